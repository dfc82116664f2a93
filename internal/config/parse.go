package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration: where it is and what is wrong.
// Parse, Load and Validate return these, joined with errors.Join when there
// are several; use errors.As to get the first.
type Error struct {
	File string // the file Load read; empty for Parse
	Line int    // 1-based; 0 when unknown (values that came from defaults)
	Key  string // path of the key, e.g. "upstreams[2].endpoint"; empty when Msg names it
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and parses the configuration file at path. Like Parse, it does
// not call Validate, so that command-line flags can be applied first.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path)
}

// Parse decodes a YAML configuration onto Default(): keys absent from data
// keep their default values. Decoding is strict: an unknown key, a key given
// twice or a value of the wrong type is an *Error naming the line and key.
//
// Lists replace, they are not merged: in particular an "upstreams:" list in
// data replaces the built-in list of upstreams entirely. After decoding,
// each upstream gets the per-upstream defaults (Upstream.ApplyDefaults).
//
// Parse does not call Validate; callers apply overrides and then validate.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, file string) (*Config, error) {
	cfg := Default()
	cfg.file = file

	// First pass: the document as a node tree, to report syntax errors and
	// to check every key against the Go types with its full path (yaml's
	// own strict mode names only the Go type, e.g. "config.Cache").
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, nil // empty file, or comments only: all defaults
		}
		return nil, syntaxError(err, file)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) && !isEmptyDoc(&extra) {
		return nil, &Error{File: file, Line: extra.Line, Msg: "only one YAML document is allowed"}
	}
	w := &walker{file: file, lines: map[string]int{}, byLine: map[int]string{}, values: map[int]string{}}
	w.top(&root)
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}

	// Second pass: the real decode, strict as well, onto the defaults.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(cfg); err != nil {
		return nil, w.translate(err)
	}
	for i := range cfg.Upstreams {
		cfg.Upstreams[i].ApplyDefaults()
	}
	cfg.lines = w.lines
	return cfg, nil
}

// walker checks a node tree against the Config types and remembers on
// which line each key is.
type walker struct {
	file   string
	lines  map[string]int // key path → line
	byLine map[int]string // line → the deepest key path on it
	values map[int]string // line → the scalar value on it (yaml cuts values in its messages)
	errs   []error
	// steps counts nodes visited: aliases and merges can make a small
	// document expand exponentially ("billion laughs"), so the walk stops.
	steps int
}

// maxWalkSteps bounds the nodes walked, aliases expanded; real
// configurations have a few hundred.
const maxWalkSteps = 100000

func (w *walker) top(root *yaml.Node) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.fail(n.Line, "", "the top level must be a mapping of keys (see docs/configuration.md)")
		return
	}
	w.walk(n, reflect.TypeFor[Config](), "")
}

func (w *walker) fail(line int, key, msg string) {
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Key: key, Msg: msg})
}

func (w *walker) record(path string, n *yaml.Node) {
	if _, ok := w.lines[path]; !ok {
		w.lines[path] = n.Line
	}
	w.byLine[n.Line] = path
	if n.Kind == yaml.ScalarNode {
		w.values[n.Line] = n.Value
	}
}

// walk checks node n, which is to be decoded into a value of type t at path.
// Only structure is checked here; scalar types are left to the decoder.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.steps++; w.steps > maxWalkSteps {
		if w.steps == maxWalkSteps+1 {
			w.fail(n.Line, path, "the document expands to too many values (aliases or merges nested too deep)")
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case isNull(n):
	case isInt(t) && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float":
		// yaml would silently truncate 1.5 to 1.
		w.fail(n.Line, path, fmt.Sprintf("invalid value %s, want a whole number", quote(n.Value)))
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.record(p, e)
			w.walk(e, t.Elem(), p)
		}
	}
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" { // "<<: *anchor" merges another mapping in
			w.merge(v, t, path)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			w.fail(k.Line, "", fmt.Sprintf("key %q given twice in %s (first at line %d)", k.Value, where(path), first))
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			w.fail(k.Line, "", fmt.Sprintf("unknown key %s in %s%s", quote(k.Value), where(path), suggest(t, k.Value)))
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		w.record(p, k)
		if v.Line != k.Line {
			w.record(p, v)
		} else if v.Kind == yaml.ScalarNode {
			w.values[v.Line] = v.Value
		}
		w.walk(v, f.Type, p)
	}
}

func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			w.merge(e, t, path)
		}
		return
	}
	w.walk(v, t, path)
}

// yamlLineRe splits yaml's messages, "line N: what".
var (
	yamlLineRe   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	cannotDecode = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `.*`)? into (.+)$")
	notFoundRe   = regexp.MustCompile(`^field (\S+) not found in type`)
)

// translate turns the decoder's errors into *Errors with key paths and
// plainer words.
func (w *walker) translate(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return syntaxError(err, w.file)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		e := &Error{File: w.file, Msg: s}
		if m := yamlLineRe.FindStringSubmatch(s); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Key, e.Msg = w.byLine[e.Line], m[2]
		}
		if m := cannotDecode.FindStringSubmatch(e.Msg); m != nil {
			got := describeTag(m[1])
			if v, ok := w.values[e.Line]; ok && (m[1] != "!!map" && m[1] != "!!seq") {
				got = quote(v)
			}
			e.Msg = fmt.Sprintf("invalid value %s, want %s", got, describeType(m[2]))
		} else if m := notFoundRe.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = "unknown key " + quote(m[1])
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// syntaxError reports an error of the YAML parser itself.
func syntaxError(err error, file string) error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return t != reflect.TypeFor[Size]() && t != reflect.TypeFor[Duration]()
	}
	return false
}

// isEmptyDoc reports whether n is a document with nothing in it (a
// trailing "---").
func isEmptyDoc(n *yaml.Node) bool {
	return n.Kind == yaml.DocumentNode && (len(n.Content) == 0 || isNull(n.Content[0]))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// yamlKey is the key a struct field is written under.
func yamlKey(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "" {
		return strings.ToLower(f.Name)
	}
	return tag
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && yamlKey(f) == key && key != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest proposes the known key closest to a mistyped one.
func suggest(t reflect.Type, key string) string {
	best, bestDist := "", 3
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		k := yamlKey(f)
		if strings.EqualFold(k, key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		if d := editDistance(strings.ToLower(k), strings.ToLower(key)); d < bestDist && len(key) > 3 {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describeTag(tag string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return tag
}

func describeType(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch {
	case goType == "float64":
		return "a number"
	case goType == "int" || goType == "int64":
		return "a whole number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case goType == "[]string":
		return "a list of strings"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "config."):
		return "a mapping of keys"
	}
	return goType
}
