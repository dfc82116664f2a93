package registry

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regmirror/regmirror/internal/oci"
)

func TestParseRoute(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		target string
		want   Route
		code   oci.ErrorCode // expected error code, "" for success
	}{
		{"/v2/", Route{Kind: KindBase}, ""},
		{"/v2", Route{Kind: KindBase}, ""},
		{"/v2/_catalog", Route{Kind: KindCatalog}, ""},
		{"/v2/nginx/manifests/latest", Route{Kind: KindManifest, Name: "nginx", Ref: "latest"}, ""},
		{"/v2/library/nginx/manifests/" + dg, Route{Kind: KindManifest, Name: "library/nginx", Ref: dg}, ""},
		{"/v2/gcr.io/distroless/static/manifests/latest", Route{Kind: KindManifest, Name: "gcr.io/distroless/static", Ref: "latest"}, ""},
		{"/v2/127.0.0.1:5000/x/manifests/latest", Route{Kind: KindManifest, Name: "127.0.0.1:5000/x", Ref: "latest"}, ""},
		{"/v2/docker.com/foo/bar/baz/tags/list", Route{Kind: KindTags, Name: "docker.com/foo/bar/baz"}, ""},
		{"/v2/foo/bar/manifests/manifests", Route{Kind: KindManifest, Name: "foo/bar", Ref: "manifests"}, ""},
		{"/v2/foo/manifests/bar/manifests/tags", Route{Kind: KindManifest, Name: "foo/manifests/bar", Ref: "tags"}, ""},
		{"/v2/foo/blobs/" + dg, Route{Kind: KindBlob, Name: "foo", Ref: dg}, ""},
		{"/v2/foo/blobs/uploads/", Route{Kind: KindUpload, Name: "foo"}, ""},
		{"/v2/foo/bar/blobs/uploads/abc-123", Route{Kind: KindUpload, Name: "foo/bar"}, ""},
		{"/v2/foo/referrers/" + dg, Route{Kind: KindReferrers, Name: "foo", Ref: dg}, ""},
		{"/v2/foo/tags/list?n=10", Route{Kind: KindTags, Name: "foo"}, ""},

		{"/v2/Foo/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/../etc/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/a/../b/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/a//b/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/a%2Fb/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/%2e%2e/x/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/" + strings.Repeat("a/", 300) + "b/manifests/latest", Route{}, oci.CodeNameInvalid},
		{"/v2/manifests/latest", Route{}, oci.CodeNameUnknown},
		{"/v2/foo/manifests/", Route{}, oci.CodeNameUnknown},
		{"/v2/foo/bar", Route{}, oci.CodeNameUnknown},
		{"/v3/foo/manifests/latest", Route{}, oci.CodeNameUnknown},
		{"/v2/foo/tags/lists", Route{}, oci.CodeNameUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://mirror"+tt.target, nil)
			got, err := ParseRoute(r)
			if tt.code != "" {
				var oe *oci.Error
				if !errors.As(err, &oe) || oe.Code != tt.code {
					t.Fatalf("ParseRoute(%q) = %+v, %v; want code %s", tt.target, got, err, tt.code)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRoute(%q) = %+v, %v; want %+v", tt.target, got, err, tt.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		header  string
		size    int64
		want    byteRange
		ok, bad bool
	}{
		{"", 100, byteRange{}, false, false},
		{"bytes=0-9", 100, byteRange{0, 10}, true, false},
		{"bytes=90-", 100, byteRange{90, 100}, true, false},
		{"bytes=90-200", 100, byteRange{90, 100}, true, false},
		{"bytes=-10", 100, byteRange{90, 100}, true, false},
		{"bytes=-200", 100, byteRange{0, 100}, true, false},
		{"bytes=0-1,5-6", 100, byteRange{}, false, false}, // multi-range: whole body
		{"bytes=5-1", 100, byteRange{}, false, true},
		{"bytes=100-", 100, byteRange{}, false, true},
		{"bytes=x-", 100, byteRange{}, false, true},
		{"bytes=-0", 100, byteRange{}, false, true},
		{"items=0-1", 100, byteRange{}, false, false},
		{"bytes=0-1", -1, byteRange{}, false, false}, // size unknown
	}
	for _, tt := range tests {
		got, ok, err := parseRange(tt.header, tt.size)
		if (err != nil) != tt.bad || ok != tt.ok || got != tt.want {
			t.Errorf("parseRange(%q, %d) = %+v, %v, %v", tt.header, tt.size, got, ok, err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/a/b/manifests/c", "/v2/a/blobs/sha256:00", "/v2/a/blobs/uploads/x", "/v2/x/tags/list", "/v2//", "/v2/a/referrers/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parsePath(p)
		if err != nil {
			var oe *oci.Error
			if !errors.As(err, &oe) {
				t.Fatalf("parsePath(%q): untyped error %v", p, err)
			}
			return
		}
		if rt.Kind != KindBase && rt.Kind != KindCatalog && !oci.ValidName(rt.Name) {
			t.Fatalf("parsePath(%q) accepted invalid name %q", p, rt.Name)
		}
	})
}
