package reference

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const dg = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		in         string
		name, tag  string
		digest     string
		wantErr    bool
		wantString string
	}{
		{in: "nginx", name: "nginx", tag: "latest"},
		{in: "nginx:1.27", name: "nginx", tag: "1.27"},
		{in: "library/nginx:1.27", name: "library/nginx", tag: "1.27"},
		{in: "gcr.io/distroless/static:latest", name: "gcr.io/distroless/static", tag: "latest"},
		{in: "GCR.io/distroless/static", name: "gcr.io/distroless/static", tag: "latest"},
		{in: "localhost:5000/x", name: "localhost:5000/x", tag: "latest"},
		{in: "127.0.0.1:5000/x:v1", name: "127.0.0.1:5000/x", tag: "v1"},
		{in: "pause@" + dg, name: "pause", digest: dg},
		{in: "pause:3.9@" + dg, name: "pause", tag: "3.9", digest: dg},
		{in: "", wantErr: true},
		{in: "Nginx", wantErr: true},
		{in: "nginx:", wantErr: true},
		{in: "nginx@sha256:abc", wantErr: true},
		{in: "a//b", wantErr: true},
		{in: "../etc/passwd", wantErr: true},
		{in: strings.Repeat("a/", 400) + "b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error", tt.in, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tt.name || r.Tag != tt.tag || string(r.Digest) != tt.digest {
				t.Errorf("Parse(%q) = %+v", tt.in, r)
			}
			again, err := Parse(r.String())
			if err != nil || again != r {
				t.Errorf("round trip of %q: %+v, %v", r.String(), again, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "gcr.io/distroless/static:latest", "localhost:5000/a/b:c", "x@sha256:" + strings.Repeat("a", 64), "a:b:c", "@", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("%q parsed to %+v, which does not round-trip: %+v %v", s, r, again, err)
		}
	})
}
