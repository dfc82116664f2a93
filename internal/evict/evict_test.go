package evict

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/bolt"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/store/disk"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture is a real disk store and bolt database with objects of known
// sizes and access times.
type fixture struct {
	t      *testing.T
	ds     *disk.Store
	db     *bolt.DB
	objs   []digest.Digest // in order of creation (= access time)
	mu     sync.Mutex
	forgot []digest.Digest
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ds, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dir + "/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &fixture{t: t, ds: ds, db: db}
}

// add stores an object of size bytes accessed at t0+at; a manifest when mt
// is set.
func (f *fixture) add(size int, at time.Duration, mt string) digest.Digest {
	f.t.Helper()
	body := bytes.Repeat([]byte{byte(len(f.objs))}, size)
	body = append(body, fmt.Sprint(len(f.objs))...)
	d := digest.FromBytes(body)
	ctx := context.Background()
	if err := f.ds.Put(ctx, d, int64(len(body)), bytes.NewReader(body)); err != nil {
		f.t.Fatal(err)
	}
	o := meta.Object{Digest: d, Size: int64(len(body)), MediaType: mt, Repo: "library/x", Created: t0, Accessed: t0.Add(at)}
	if err := f.db.PutObject(ctx, o); err != nil {
		f.t.Fatal(err)
	}
	f.objs = append(f.objs, d)
	return d
}

func (f *fixture) evictor(o Options) *Evictor {
	o.Store, o.Meta = f.ds, f.db
	o.Forget = func(d digest.Digest) {
		f.mu.Lock()
		f.forgot = append(f.forgot, d)
		f.mu.Unlock()
	}
	if o.Now == nil {
		o.Now = func() time.Time { return t0.Add(24 * time.Hour) }
	}
	return New(o)
}

// present reports which of the fixture's objects are still cached (content
// and record).
func (f *fixture) present() []bool {
	out := make([]bool, len(f.objs))
	for i, d := range f.objs {
		_, serr := f.ds.Stat(context.Background(), d)
		_, merr := f.db.GetObject(context.Background(), d)
		if (serr == nil) != (merr == nil) {
			f.t.Errorf("object %d: store err %v, meta err %v", i, serr, merr)
		}
		out[i] = serr == nil
	}
	return out
}

func bools(s string) []bool {
	out := make([]bool, len(s))
	for i, c := range s {
		out[i] = c == '1'
	}
	return out
}

func TestSweep(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		want    string // per object: 1 kept, 0 evicted
		evicted int
	}{
		// Ten objects of ~1000 bytes, accessed in order (object 0 least recently).
		{"unlimited", Options{}, "1111111111", 0},
		{"under the limit", Options{MaxSize: 20000}, "1111111111", 0},
		{"over: down to low water", Options{MaxSize: 8000, LowWater: 0.5}, "0000001111", 6},
		{"default low water", Options{MaxSize: 9000}, "0011111111", 2},
		{"age only", Options{MaxAge: 24*time.Hour - 3*time.Minute - time.Second}, "0000111111", 4},
		// Age first (objects 0 and 1), then size: 8000 > 7000, down to 3500.
		{"age and size", Options{MaxAge: 24*time.Hour - 1*time.Minute - time.Second, MaxSize: 7000, LowWater: 0.5}, "0000000111", 7},
		{"age leaves it at the limit", Options{MaxAge: 24*time.Hour - 1*time.Minute - time.Second, MaxSize: 8000, LowWater: 0.5}, "0011111111", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for i := range 10 {
				f.add(999, time.Duration(i)*time.Minute, "")
			}
			e := f.evictor(tc.opts)
			res, err := e.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := f.present(); !slices.Equal(got, bools(tc.want)) {
				t.Errorf("present = %v, want %s", got, tc.want)
			}
			if res.Evicted != tc.evicted || len(f.forgot) != tc.evicted || res.BytesAfter != res.BytesBefore-res.BytesFreed {
				t.Errorf("result %+v, forgot %d", res, len(f.forgot))
			}
			if tc.opts.MaxSize > 0 && res.Evicted > 0 && res.BytesAfter > int64(float64(tc.opts.MaxSize)*e.opts.LowWater) && res.Victims[len(res.Victims)-1].Reason == "size" {
				t.Errorf("after %d bytes, above low water", res.BytesAfter)
			}
		})
	}
}

func TestSweepDropsTagsOfEvictedManifests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.add(500, 0, "application/vnd.oci.image.manifest.v1+json")
	keep := f.add(500, time.Hour, "application/vnd.oci.image.manifest.v1+json")
	for i, d := range []digest.Digest{old, keep} {
		k := meta.TagKey{Upstream: "docker.io", Repo: "library/x", Tag: fmt.Sprint("t", i)}
		if err := f.db.PutTag(ctx, k, meta.Tag{Digest: d}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.evictor(Options{MaxSize: 700, LowWater: 1}).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Evicted != 1 || res.TagsRemoved != 1 {
		t.Fatalf("result %+v", res)
	}
	if tags, _ := f.db.ListTags(ctx, "docker.io", "library/x"); !slices.Equal(tags, []string{"t1"}) {
		t.Errorf("tags left: %v", tags)
	}
}

func TestPrune(t *testing.T) {
	size := func(n int64) *int64 { return &n }
	cases := []struct {
		name   string
		policy Policy
		want   string
		err    bool
	}{
		{"nothing asked", Policy{}, "11111", true},
		{"older than", Policy{OlderThan: 24*time.Hour - 2*time.Minute - time.Second}, "00011", false},
		{"to size", Policy{ToSize: size(2500)}, "00011", false},
		{"to zero", Policy{ToSize: size(0)}, "00000", false},
		{"dry run", Policy{ToSize: size(0), DryRun: true}, "11111", false},
		{"negative", Policy{ToSize: size(-1)}, "11111", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for i := range 5 {
				f.add(999, time.Duration(i)*time.Minute, "")
			}
			// Limits in Options do not apply to a prune.
			res, err := f.evictor(Options{MaxSize: 1}).Prune(context.Background(), tc.policy)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if got := f.present(); !slices.Equal(got, bools(tc.want)) {
				t.Errorf("present = %v, want %s", got, tc.want)
			}
			if tc.policy.DryRun && (res.Evicted != 5 || len(res.Victims) != 5 || res.Victims[0].Digest != f.objs[0]) {
				t.Errorf("dry run result %+v", res)
			}
		})
	}
}

func TestObjectAccessedDuringSweepIsKept(t *testing.T) {
	f := newFixture(t)
	for i := range 4 {
		f.add(999, time.Duration(i)*time.Minute, "")
	}
	ctx := context.Background()
	e := f.evictor(Options{MaxSize: 1000, LowWater: 1})
	// A hit on object 1 lands while object 0 is being evicted.
	e.opts.Forget = func(d digest.Digest) {
		if d == f.objs[0] {
			_ = f.db.Touch(ctx, map[digest.Digest]time.Time{f.objs[1]: t0.Add(time.Hour)})
		}
	}
	if _, err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.present(); !slices.Equal(got, bools("0101")) {
		t.Errorf("present = %v, want 0101", got)
	}
}

func TestFlushAndLeaderHooks(t *testing.T) {
	f := newFixture(t)
	f.add(999, 0, "")
	f.add(999, time.Minute, "")
	ctx := context.Background()
	leader := false
	e := f.evictor(Options{MaxSize: 1500, LowWater: 1, Leader: func(context.Context) bool { return leader }})
	if res, err := e.Sweep(ctx); err != nil || !res.Skipped || !slices.Equal(f.present(), bools("11")) {
		t.Fatalf("not the leader: %+v %v", res, err)
	}
	leader = true
	// The flush makes object 0 the most recently used.
	e.opts.Flush = func(ctx context.Context) error {
		return f.db.Touch(ctx, map[digest.Digest]time.Time{f.objs[0]: t0.Add(time.Hour)})
	}
	freed, counted := false, int64(0)
	e.opts.Freed = func() { freed = true }
	e.opts.Evicted = func(n int, b int64) { counted += int64(n) * b }
	if _, err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.present(), bools("10")) || !freed || counted != 1000 {
		t.Errorf("present %v, freed %v, evicted×bytes %d", f.present(), freed, counted)
	}
}

func TestAddedTriggersSweep(t *testing.T) {
	f := newFixture(t)
	f.add(999, 0, "")
	e := f.evictor(Options{MaxSize: 1500, LowWater: 1, Interval: time.Hour, Now: time.Now})
	e.minGap = 10 * time.Millisecond
	m := e.Watch(f.db)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Store a second object through the watched metadata store.
	time.Sleep(50 * time.Millisecond) // the first sweep has run
	body := bytes.Repeat([]byte("y"), 999)
	d := digest.FromBytes(body)
	if err := f.ds.Put(ctx, d, 999, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if err := m.PutObject(ctx, meta.Object{Digest: d, Size: 999, Accessed: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := f.ds.Stat(ctx, f.objs[0]); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sweep after the cache went past its limit")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUsage(t *testing.T) {
	f := newFixture(t)
	f.add(100, time.Minute, "")
	f.add(200, 0, "application/vnd.oci.image.index.v1+json")
	ctx := context.Background()
	_ = f.db.PutTag(ctx, meta.TagKey{Upstream: "u", Repo: "r", Tag: "t"}, meta.Tag{Digest: f.objs[1]})
	u, err := f.evictor(Options{MaxSize: 1 << 20}).Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Objects != 2 || u.Manifests != 1 || u.Blobs != 1 || u.Tags != 1 || u.Bytes != u.BlobBytes+u.ManifestBytes || !u.OldestAccess.Equal(t0) || u.MaxSize != 1<<20 {
		t.Errorf("usage %+v", u)
	}
}

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := f.add(100, 0, "")
	short := f.add(100, 0, "")
	gone := f.add(100, 0, "")
	if err := os.Truncate(f.ds.Path(short), 10); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.ds.Path(gone)); err != nil {
		t.Fatal(err)
	}
	res, err := f.evictor(Options{}).Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 3 || res.Missing != 1 || res.Mismatched != 1 {
		t.Errorf("result %+v", res)
	}
	if got := f.present(); !slices.Equal(got, bools("100")) {
		t.Errorf("present %v", got)
	}
	_ = good
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.add(5000, 0, "")
	bad := f.add(5000, 0, "application/vnd.oci.image.manifest.v1+json")
	_ = f.db.PutTag(ctx, meta.TagKey{Upstream: "u", Repo: "r", Tag: "t"}, meta.Tag{Digest: bad})
	p := f.ds.Path(bad)
	b, _ := os.ReadFile(p)
	b[100] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e := f.evictor(Options{})
	calls := 0
	res, err := e.Verify(ctx, VerifyOptions{Progress: func(int, int64) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 2 || len(res.Corrupt) != 1 || res.Corrupt[0].Digest != bad || res.Repaired != 0 || calls != 2 {
		t.Fatalf("verify: %+v", res)
	}
	if !slices.Equal(f.present(), bools("11")) {
		t.Fatal("verify without repair removed something")
	}
	res, err = e.Verify(ctx, VerifyOptions{Repair: true})
	if err != nil || res.Repaired != 1 || res.TagsRemoved != 1 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if !slices.Equal(f.present(), bools("10")) || !slices.Equal(f.forgot, []digest.Digest{bad}) {
		t.Errorf("after repair: present %v, forgot %v", f.present(), f.forgot)
	}
}
