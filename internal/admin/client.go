package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/regmirror/regmirror/internal/evict"
)

// maxResponseBody bounds what the client reads of an answer.
const maxResponseBody = 256 << 20

// Client is the admin API's client; it implements Ops for a running mirror.
type Client struct {
	base string
	http *http.Client
}

var _ Ops = (*Client)(nil)

// NewClient returns a client of the admin API at addr: the admin.listen
// value ("127.0.0.1:5001", ":5001": a wildcard host is reached on loopback)
// or a URL.
func NewClient(addr string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: BaseURL(addr), http: hc}
}

// BaseURL turns an admin.listen address into the URL to reach it.
func BaseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// List implements Ops.
func (c *Client) List(ctx context.Context, upstream string) ([]Repo, error) {
	path := PathList
	if upstream != "" {
		path += "?upstream=" + url.QueryEscape(upstream)
	}
	var out []Repo
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Stats implements Ops.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	return out, c.do(ctx, http.MethodGet, PathStats, nil, &out)
}

// Prune implements Ops.
func (c *Client) Prune(ctx context.Context, p PruneRequest) (evict.Result, error) {
	var out evict.Result
	return out, c.do(ctx, http.MethodPost, PathPrune, p, &out)
}

// Verify implements Ops. It cannot report progress.
func (c *Client) Verify(ctx context.Context, opts evict.VerifyOptions) (evict.VerifyResult, error) {
	var out evict.VerifyResult
	return out, c.do(ctx, http.MethodPost, PathVerify, opts, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("admin API: %s", e.Error)
		}
		return fmt.Errorf("admin API at %s: %s", c.base, resp.Status)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	return nil
}
