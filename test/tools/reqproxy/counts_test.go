package main

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		path, kind, dgst string
	}{
		{"/v2/", kindPing, ""},
		{"/v2", kindPing, ""},
		{"/v2/library/nginx/manifests/latest", kindManifests, ""},
		{"/v2/a/b/c/manifests/sha256:abc", kindManifests, ""},
		{"/v2/library/nginx/blobs/sha256:abc", kindBlobs, "sha256:abc"},
		{"/v2/x/blobs/uploads/", kindUploads, ""},
		{"/v2/x/blobs/uploads/1234-5678", kindUploads, ""},
		{"/v2/x/tags/list", kindTags, ""},
		{"/v2/x/referrers/sha256:abc", kindReferrers, ""},
		{"/v2/tags/manifests/list", kindManifests, ""}, // a repo named "tags"
		{"/v2/manifests/blobs/sha256:1", kindBlobs, "sha256:1"},
		{"/token", kindToken, ""},
		{"/auth/token", kindToken, ""},
		{"/v2/x/token", kindOther, ""},
		{"/v2/_catalog", kindOther, ""},
		{"/favicon.ico", kindOther, ""},
		{"/v2/x/manifests/", kindOther, ""},
	}
	for _, tt := range tests {
		kind, dgst := classify(tt.path)
		if kind != tt.kind || dgst != tt.dgst {
			t.Errorf("classify(%q) = %q, %q; want %q, %q", tt.path, kind, dgst, tt.kind, tt.dgst)
		}
	}
}

func TestCounter(t *testing.T) {
	c := newCounter()
	c.add("GET", kindBlobs, "sha256:a")
	c.add("GET", kindBlobs, "sha256:a")
	c.add("HEAD", kindBlobs, "sha256:a")
	c.add("HEAD", kindManifests, "")
	s := c.snapshot()
	if s.Total != 4 || s.Requests["GET blobs"] != 2 || s.Requests["HEAD manifests"] != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	if s.Blobs["sha256:a"]["GET"] != 2 || s.Blobs["sha256:a"]["HEAD"] != 1 {
		t.Fatalf("blobs %+v", s.Blobs)
	}
	c.reset()
	if s := c.snapshot(); s.Total != 0 || len(s.Requests) != 0 || len(s.Blobs) != 0 {
		t.Fatalf("after reset %+v", s)
	}
}
