package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// snippet is one copyable block.
type snippet struct {
	Title string
	Code  string
}

// page is the data of the homepage template.
type page struct {
	lang           lang
	HTMLLang       string
	OtherLang      lang
	OtherLangLabel string
	Host, Base     string
	Insecure       bool
	Query          string
	Version        string
	Upstreams      []upstreamRow
	ImplicitOrder  string
	Examples       []exampleRow
	Snip           pageSnippets
	Status         *statusView
	// JSMessages is a JSON object of the script's messages.
	JSMessages string
}

type upstreamRow struct {
	Name, Aliases string
	Implicit      bool
	Order         int
	Pull          snippet
}

type exampleRow struct {
	Ref, Usually string
	Pull         snippet
}

type pageSnippets struct {
	Quick, Docker, DockerRestart, ContainerdConfig, ContainerdScript, K3s, Kind, Podman, Tools snippet
	HostsFiles                                                                                 []snippet
}

// T returns the message key in the page language.
func (p *page) T(key string) string { return message(p.lang, key) }

func newPage(l lang, scheme, host string, opts Options, st *Status, query string) *page {
	p := &page{lang: l, HTMLLang: "en", OtherLang: langZH, OtherLangLabel: "中文",
		Host: host, Base: scheme + "://" + host, Insecure: scheme == "http", Query: query, Version: opts.Version}
	if l == langZH {
		p.HTMLLang, p.OtherLang, p.OtherLangLabel = "zh-CN", langEN, "English"
	}
	s := snippets{base: p.Base, host: host, insecure: p.Insecure, ups: opts.Upstreams}
	var order []string
	for _, u := range opts.Upstreams {
		row := upstreamRow{Name: u.Name, Aliases: strings.Join(u.Aliases, ", "), Implicit: u.Implicit,
			Pull: snippet{Code: "docker pull " + host + "/" + u.Name + "/" + exampleRepo(u)}}
		if u.Implicit {
			order = append(order, u.Name)
			row.Order = len(order)
		}
		p.Upstreams = append(p.Upstreams, row)
	}
	p.ImplicitOrder = strings.Join(order, " → ")
	if len(order) > 0 {
		for _, e := range implicitExamples {
			p.Examples = append(p.Examples, exampleRow{Ref: e.ref, Usually: e.usually,
				Pull: snippet{Code: "docker pull " + host + "/" + e.ref}})
		}
	}
	p.Snip = pageSnippets{
		Quick:            snippet{Code: s.quickStart()},
		Docker:           snippet{Title: "/etc/docker/daemon.json", Code: s.dockerDaemon()},
		DockerRestart:    snippet{Code: s.dockerRestart()},
		ContainerdConfig: snippet{Title: "/etc/containerd/config.toml", Code: s.containerdConfig()},
		ContainerdScript: snippet{Title: p.T("cl.ctrd.script"), Code: s.containerdScript()},
		K3s:              snippet{Title: "/etc/rancher/k3s/registries.yaml · /etc/rancher/rke2/registries.yaml", Code: s.registriesYAML()},
		Kind:             snippet{Title: "kind-config.yaml", Code: s.kindConfig()},
		Podman:           snippet{Title: "/etc/containers/registries.conf.d/regmirror.conf", Code: s.podmanConf()},
		Tools:            snippet{Code: s.tools()},
	}
	for _, u := range opts.Upstreams {
		p.Snip.HostsFiles = append(p.Snip.HostsFiles, snippet{
			Title: "/etc/containerd/certs.d/" + u.Name + "/hosts.toml", Code: s.hostsTOML(u.Name)})
	}
	if st != nil {
		p.Status = newStatusView(l, *st)
	}
	js := make(map[string]string, len(jsKeys))
	for _, k := range jsKeys {
		js[k] = p.T("js." + k)
	}
	b, _ := json.Marshal(js) // a map of strings always encodes
	p.JSMessages = string(b)
	return p
}

// statusView is Status formatted for the page; the script formats the
// polled JSON the same way.
type statusView struct {
	HitRatio, BytesToday, Cache, Objects, Downloads string
	CachePct                                        int
	HasLimit                                        bool
	Upstreams                                       []upstreamView
	TimeISO, TimeText                               string
}

type upstreamView struct {
	Name, State, StateLabel, Latency, RateLimit, Error string
}

func newStatusView(l lang, st Status) *statusView {
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	v := &statusView{
		HitRatio:   "—",
		BytesToday: humanBytes(st.BytesServedToday),
		Cache:      humanBytes(st.Cache.SizeBytes),
		Objects:    fmt.Sprintf(message(l, "js.objects"), st.Cache.Objects),
		Downloads:  fmt.Sprintf("%d", st.Downloads),
		TimeISO:    st.Time.Format(time.RFC3339),
		TimeText:   st.Time.Format("2006-01-02 15:04:05"),
	}
	if st.Lookups > 0 {
		v.HitRatio = fmt.Sprintf("%.1f%%", st.HitRatio*100)
	}
	if st.Waiters > 0 {
		v.Downloads += fmt.Sprintf(" (+%d)", st.Waiters)
	}
	if st.Cache.LimitBytes > 0 {
		v.Cache += " / " + humanBytes(st.Cache.LimitBytes)
		v.HasLimit = true
		v.CachePct = int(min(100, st.Cache.SizeBytes*100/st.Cache.LimitBytes))
	}
	for _, u := range st.Upstreams {
		uv := upstreamView{Name: u.Name, State: u.State, StateLabel: message(l, "js.state-"+u.State), Latency: "—", RateLimit: "—"}
		if uv.StateLabel == "" || !validState(u.State) {
			uv.State, uv.StateLabel = StateUnknown, message(l, "js.state-unknown")
		}
		if u.LatencyMS > 0 {
			uv.Latency = fmt.Sprintf("%.0f ms", u.LatencyMS)
		}
		if u.RateLimit != nil {
			uv.RateLimit = fmt.Sprintf("%d / %d", u.RateLimit.Remaining, u.RateLimit.Limit)
		}
		if u.State == StateDown || u.State == StateLimited {
			uv.Error = u.Error
		}
		v.Upstreams = append(v.Upstreams, uv)
	}
	return v
}

func validState(s string) bool {
	return s == StateUp || s == StateDown || s == StateLimited || s == StateUnknown
}

// humanBytes formats n with binary units ("1.5 GiB").
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 5 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i-1])
}
