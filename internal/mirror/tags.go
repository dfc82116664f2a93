package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/upstream"
)

// TagList is a tags/list answer, already in the client's terms.
type TagList struct {
	Body     []byte
	Link     string // rel="next" Link header, pointing back at this mirror
	Upstream string
	Cache    CacheResult
}

type tagsBody struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// Tags answers GET /v2/<name>/tags/list from the upstream, falling back to
// the tags cached here when the upstream fails.
func (m *Mirror) Tags(ctx context.Context, name, ns string, n int, last string) (*TagList, error) {
	get := func(ctx context.Context, up Upstream, repo string) (any, error) {
		return up.GetTags(ctx, repo, n, last)
	}
	t, v, err := m.resolve(ctx, name, ns, "t:"+strconv.Itoa(n)+":"+last, get)
	if err != nil {
		return nil, tagsErr(err)
	}
	if v == nil {
		v, err = get(ctx, m.opts.Upstreams[t.Upstream], t.Repo)
	}
	if err != nil {
		if upstream.IsNotFound(err) {
			m.forgetResolution(ctx, t, err)
			return nil, tagsErr(err)
		}
		tags, lerr := m.opts.Meta.ListTags(ctx, t.Upstream, t.Repo)
		if lerr != nil || len(tags) == 0 {
			return nil, err
		}
		m.log.Warn("upstream failed; listing cached tags", "upstream", t.Upstream, "repo", t.Repo, "err", err)
		page, more := paginate(tags, n, last)
		tl := &TagList{Body: encodeTags(name, page), Upstream: t.Upstream, Cache: Stale}
		if more {
			tl.Link = nextLink(name, ns, url.Values{"n": {strconv.Itoa(n)}, "last": {page[len(page)-1]}})
		}
		return tl, nil
	}
	ul := v.(*upstream.TagList)
	var body tagsBody
	if err := json.Unmarshal(ul.Body, &body); err != nil {
		return nil, &oci.Error{Code: oci.CodeUnavailable, Message: "upstream " + t.Upstream + " sent an unreadable tag list", Err: err}
	}
	if body.Tags == nil {
		body.Tags = []string{}
	}
	tl := &TagList{Body: encodeTags(name, body.Tags), Upstream: t.Upstream, Cache: Pass}
	if ul.Link != "" {
		if q, ok := linkQuery(ul.Link); ok {
			tl.Link = nextLink(name, ns, q)
		}
	}
	return tl, nil
}

func encodeTags(name string, tags []string) []byte {
	b, _ := json.Marshal(tagsBody{Name: name, Tags: tags})
	return b
}

// paginate applies the spec's n/last: tags after last (exclusive), at most n.
func paginate(tags []string, n int, last string) (page []string, more bool) {
	sort.Strings(tags)
	if last != "" {
		i := sort.SearchStrings(tags, last)
		if i < len(tags) && tags[i] == last {
			i++
		}
		tags = tags[i:]
	}
	if n > 0 && len(tags) > n {
		return tags[:n], true
	}
	return tags, false
}

// linkQuery extracts the query of a `<url>; rel="next"` Link header.
func linkQuery(link string) (url.Values, bool) {
	start, end := strings.IndexByte(link, '<'), strings.IndexByte(link, '>')
	if start < 0 || end <= start {
		return nil, false
	}
	u, err := url.Parse(link[start+1 : end])
	if err != nil {
		return nil, false
	}
	return u.Query(), true
}

func nextLink(name, ns string, q url.Values) string {
	keep := url.Values{}
	for _, k := range []string{"n", "last"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	if ns != "" {
		keep.Set("ns", ns)
	}
	return "</v2/" + name + "/tags/list?" + keep.Encode() + `>; rel="next"`
}

func tagsErr(err error) error {
	if upstream.IsNotFound(err) {
		return &oci.Error{Code: oci.CodeNameUnknown, Message: "repository name not known to upstream", Err: err}
	}
	return err
}

// emptyIndex is the answer for a subject with no referrers.
var emptyIndex = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)

// Referrers is a referrers answer.
type Referrers struct {
	Body      []byte
	MediaType string
	Upstream  string
}

// Referrers answers GET /v2/<name>/referrers/<digest> by passing it
// through. An upstream without the referrers API (404), or a subject found
// nowhere, gets an empty index.
func (m *Mirror) Referrers(ctx context.Context, name, ns string, d digest.Digest, artifactType string) (*Referrers, error) {
	probe := func(ctx context.Context, up Upstream, repo string) (any, error) {
		return up.HeadManifest(ctx, repo, d.String())
	}
	empty := &Referrers{Body: emptyIndex, MediaType: oci.MediaTypeOCIIndex}
	t, _, err := m.resolve(ctx, name, ns, "m:"+d.String(), probe)
	if err != nil {
		var oe *oci.Error
		if errors.As(err, &oe) && oe.Code == oci.CodeNameUnknown {
			return empty, nil
		}
		return nil, err
	}
	empty.Upstream = t.Upstream
	body, mt, err := m.opts.Upstreams[t.Upstream].GetReferrers(ctx, t.Repo, d, artifactType)
	if err != nil {
		if upstream.IsNotFound(err) {
			return empty, nil
		}
		return nil, err
	}
	if mt == "" {
		mt = oci.MediaTypeOCIIndex
	}
	return &Referrers{Body: body, MediaType: mt, Upstream: t.Upstream}, nil
}
