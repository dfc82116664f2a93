package main

import "testing"

func TestParseRule(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr bool
		none    bool
	}{
		{"", false, true},
		{"none", false, true},
		{"status=503", false, false},
		{"status=503,kind=blobs,kind=manifests,times=2", false, false},
		{"delay-first-byte=2s", false, false},
		{"delay-first-byte=2s,path=/library/", false, false},
		{"truncate=100", false, false},
		{"drop,times=1", false, false},
		{"status=abc", true, false},
		{"status=99", true, false},
		{"delay-first-byte=soon", true, false},
		{"truncate=-1", true, false},
		{"explode", true, false},
		{"status=503,colour=red", true, false},
		{"status=503,times=x", true, false},
	}
	for _, tt := range tests {
		r, err := parseRule(tt.spec)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseRule(%q) error = %v, wantErr %v", tt.spec, err, tt.wantErr)
			continue
		}
		if err == nil && (r.fault == nil) != tt.none {
			t.Errorf("parseRule(%q): fault %v, want none=%v", tt.spec, r.fault, tt.none)
		}
	}
}

func TestRulePick(t *testing.T) {
	r, err := parseRule("status=503,kind=blobs,path=/nginx/,times=2")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		kind, path string
		want       bool
	}{
		{kindManifests, "/v2/nginx/manifests/x", false}, // wrong kind: does not use up times
		{kindBlobs, "/v2/other/blobs/sha256:1", false},  // wrong path
		{kindBlobs, "/v2/nginx/blobs/sha256:1", true},
		{kindBlobs, "/v2/nginx/blobs/sha256:2", true},
		{kindBlobs, "/v2/nginx/blobs/sha256:3", false}, // times used up
	}
	for i, s := range steps {
		if got := r.pick(s.kind, s.path) != nil; got != s.want {
			t.Errorf("step %d: pick(%q, %q) = %v, want %v", i, s.kind, s.path, got, s.want)
		}
	}
	var nilRule *rule
	if nilRule.pick(kindBlobs, "/") != nil {
		t.Error("nil rule picked a fault")
	}
}
