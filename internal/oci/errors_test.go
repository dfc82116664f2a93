package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestStatusTable(t *testing.T) {
	for code, want := range map[ErrorCode]int{
		CodeNameInvalid: 400, CodeDigestInvalid: 400, CodeManifestInvalid: 400,
		CodeNameUnknown: 404, CodeManifestUnknown: 404, CodeBlobUnknown: 404,
		CodeTooManyRequests: 429, CodeUnsupported: 405, CodeDenied: 403, CodeUnavailable: 502,
		CodeUnknown: 500, ErrorCode("NOT_A_CODE"): 500,
	} {
		if got := code.Status(); got != want {
			t.Errorf("%s: status %d, want %d", code, got, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Docker-Content-Digest", "sha256:stale")
	e := &Error{Code: CodeTooManyRequests, Message: "slow down", RetryAfter: 1500 * time.Millisecond}
	WriteError(w, fmt.Errorf("wrapped: %w", e))
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || w.Header().Get("Docker-Content-Digest") != "" {
		t.Fatalf("status %d headers %v", w.Code, w.Header())
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Code != CodeTooManyRequests || body.Errors[0].Message != "slow down" {
		t.Fatalf("body %s", w.Body)
	}

	w = httptest.NewRecorder()
	WriteError(w, errors.New("secret internal detail"))
	if w.Code != 500 || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Errors[0].Message != "internal error" {
		t.Fatalf("untyped error leaked: %d %s", w.Code, w.Body)
	}
	if e := NewError(CodeUnsupported, "x").WithStatus(404); e.Status() != 404 {
		t.Fatal("WithStatus")
	}
}

func TestParseErrors(t *testing.T) {
	codes := ParseErrors([]byte(`{"errors":[{"code":"NAME_UNKNOWN","message":"x"},{"code":"DENIED"}]}`))
	if len(codes) != 2 || codes[0] != CodeNameUnknown || codes[1] != CodeDenied {
		t.Fatalf("%v", codes)
	}
	if ParseErrors([]byte("<html>")) != nil {
		t.Fatal("garbage parsed")
	}
}

func TestSniffManifestType(t *testing.T) {
	for body, want := range map[string]string{
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}`: MediaTypeDockerManifest,
		`{"schemaVersion":2,"manifests":[]}`:                                                     MediaTypeOCIIndex,
		`{"schemaVersion":2,"config":{},"layers":[]}`:                                            MediaTypeOCIManifest,
		`{"architecture":"amd64","config":{},"rootfs":{}}`:                                       "", // an image config, not a manifest
		`not json`: "",
	} {
		if got := SniffManifestType([]byte(body)); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}
