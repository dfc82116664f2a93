package mirror

import (
	"reflect"
	"testing"
)

func TestPaginate(t *testing.T) {
	tags := []string{"c", "a", "b", "d"}
	tests := []struct {
		n    int
		last string
		want []string
		more bool
	}{
		{0, "", []string{"a", "b", "c", "d"}, false},
		{2, "", []string{"a", "b"}, true},
		{2, "b", []string{"c", "d"}, false},
		{1, "bb", []string{"c"}, true},
		{5, "d", []string{}, false},
	}
	for _, tt := range tests {
		got, more := paginate(append([]string(nil), tags...), tt.n, tt.last)
		if len(got) == 0 {
			got = []string{}
		}
		if !reflect.DeepEqual(got, tt.want) || more != tt.more {
			t.Errorf("paginate(n=%d, last=%q) = %v, %v", tt.n, tt.last, got, more)
		}
	}
}

func TestNextLinkRewritesToMirror(t *testing.T) {
	q, ok := linkQuery(`</v2/library/nginx/tags/list?last=b&n=2>; rel="next"`)
	if !ok {
		t.Fatal("link not parsed")
	}
	got := nextLink("nginx", "docker.io", q)
	want := `</v2/nginx/tags/list?last=b&n=2&ns=docker.io>; rel="next"`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, ok := linkQuery("garbage"); ok {
		t.Fatal("garbage parsed")
	}
}
