// Package access decides who may pull what through the mirror: allow and
// deny lists of images (Rules) and optional authentication of clients on
// the mirror itself (Authenticator).
package access

import (
	"errors"
	"fmt"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/glob"
	"github.com/regmirror/regmirror/internal/oci"
)

// The causes a refusal wraps (in *oci.Error.Err), for callers that treat
// them differently: an implicit search skips a candidate that is merely
// not allowed, but stops at one that is denied.
var (
	// ErrDenied: the image matches a deny pattern.
	ErrDenied = errors.New("image is on a deny list")
	// ErrNotAllowed: an allow list exists and the image matches none of it.
	ErrNotAllowed = errors.New("image is not on the allow list")
)

// list is one set of allow and deny patterns with its message.
type list struct {
	allow, deny []*glob.Pattern
	message     string
}

func newList(allow, deny []string, message string) (list, error) {
	l := list{message: message}
	var err error
	if l.allow, err = compile(allow); err != nil {
		return l, err
	}
	l.deny, err = compile(deny)
	return l, err
}

func compile(patterns []string) ([]*glob.Pattern, error) {
	out := make([]*glob.Pattern, 0, len(patterns))
	for _, s := range patterns {
		p, err := glob.Compile(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// check returns ErrDenied or ErrNotAllowed for name, or nil. Deny wins over
// allow.
func (l list) check(name string) error {
	for _, p := range l.deny {
		if p.Match(name) {
			return ErrDenied
		}
	}
	if len(l.allow) == 0 {
		return nil
	}
	for _, p := range l.allow {
		if p.Match(name) {
			return nil
		}
	}
	return ErrNotAllowed
}

func (l list) empty() bool { return len(l.allow) == 0 && len(l.deny) == 0 }

// Rules are the global and per-upstream allow and deny lists. The zero
// value and a nil *Rules allow everything. Rules are immutable and safe
// for concurrent use.
type Rules struct {
	global list
	per    map[string]list // by canonical upstream name
}

// NewRules compiles the lists of a configuration: the global access
// section, and each upstream's allow, deny and denyMessage.
func NewRules(global config.Access, upstreams []config.Upstream) (*Rules, error) {
	g, err := newList(global.Allow, global.Deny, global.DenyMessage)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	r := &Rules{global: g, per: map[string]list{}}
	for _, u := range upstreams {
		l, err := newList(u.Allow, u.Deny, u.DenyMessage)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
		}
		if !l.empty() {
			r.per[u.Name] = l
		}
	}
	return r, nil
}

// Empty reports whether no rule is configured (every Check passes).
func (r *Rules) Empty() bool { return r == nil || (r.global.empty() && len(r.per) == 0) }

// Check decides whether repo on upstream may be pulled. upstream is the
// canonical upstream name and repo the repository as named there (after
// routing, so Docker Hub's "library/" is in it). The upstream's own lists
// are matched against repo ("library/nginx"); the global lists against
// "<upstream>/<repo>" ("docker.io/library/nginx"), so one global pattern
// can name images on any upstream.
//
// A refusal is a 403 DENIED *oci.Error whose message is the refusing
// list's denyMessage (or a default naming the image) and whose Err is
// ErrDenied or ErrNotAllowed. The upstream's lists are checked first.
func (r *Rules) Check(upstream, repo string) error {
	if r.Empty() {
		return nil
	}
	full := upstream + "/" + repo
	if l, ok := r.per[upstream]; ok {
		if err := l.check(repo); err != nil {
			return refusal(l.message, full, err)
		}
	}
	if err := r.global.check(full); err != nil {
		return refusal(r.global.message, full, err)
	}
	return nil
}

func refusal(message, image string, cause error) error {
	if message == "" {
		if errors.Is(cause, ErrDenied) {
			message = fmt.Sprintf("pulling %s is not allowed on this mirror", image)
		} else {
			message = fmt.Sprintf("%s is not on this mirror's list of allowed images", image)
		}
	}
	return &oci.Error{Code: oci.CodeDenied, Message: message, Detail: map[string]string{"image": image}, Err: cause}
}
