package web

import (
	"fmt"
	"strings"
)

// wellKnown are example repositories of common registries, for the
// explicit pull examples.
var wellKnown = map[string]string{
	"docker.io":           "library/nginx:latest",
	"gcr.io":              "distroless/static:latest",
	"registry.k8s.io":     "pause:3.10",
	"k8s.gcr.io":          "pause:3.9",
	"quay.io":             "prometheus/prometheus:latest",
	"ghcr.io":             "oras-project/oras:v1.2.0",
	"mcr.microsoft.com":   "dotnet/runtime:8.0",
	"public.ecr.aws":      "docker/library/alpine:latest",
	"nvcr.io":             "nvidia/cuda:12.4.1-base-ubuntu22.04",
	"docker.elastic.co":   "elasticsearch/elasticsearch:8.15.0",
	"registry.gitlab.com": "gitlab-org/gitlab-runner/gitlab-runner-helper:latest",
}

// implicitExamples are short names the implicit search resolves on the
// usual upstreams: Docker Hub's official images, the Kubernetes pause
// image, Google's distroless images.
var implicitExamples = []struct{ ref, usually string }{
	{"nginx", "docker.io/library/nginx:latest"},
	{"pause:3.10", "registry.k8s.io/pause:3.10"},
	{"distroless/static-debian11", "gcr.io/distroless/static-debian11:latest"},
}

func exampleRepo(u Upstream) string {
	if u.Example != "" {
		return u.Example
	}
	if e, ok := wellKnown[u.Name]; ok {
		return e
	}
	return "REPOSITORY:TAG"
}

// serverOf is the upstream address containerd falls back to when the
// mirror does not answer: Docker Hub's API host, else the registry itself.
func serverOf(name string) string {
	if name == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + name
}

// snippets holds the client configuration texts for one mirror address.
type snippets struct {
	base     string // "https://mirror.example.org"
	host     string // "mirror.example.org"
	insecure bool   // plain HTTP
	ups      []Upstream
}

func (s snippets) quickStart() string {
	var b strings.Builder
	fmt.Fprintf(&b, "docker pull %s/nginx\n", s.host)
	for _, u := range s.ups {
		if u.Name != "docker.io" {
			fmt.Fprintf(&b, "docker pull %s/%s/%s\n", s.host, u.Name, exampleRepo(u))
			break
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (s snippets) dockerDaemon() string {
	if s.insecure {
		return fmt.Sprintf("{\n  \"registry-mirrors\": [\"%s\"],\n  \"insecure-registries\": [\"%s\"]\n}", s.base, s.host)
	}
	return fmt.Sprintf("{\n  \"registry-mirrors\": [\"%s\"]\n}", s.base)
}

func (s snippets) dockerRestart() string {
	return "sudo systemctl restart docker\ndocker info | grep -A1 'Registry Mirrors'"
}

// containerdConfig is the config.toml part that enables hosts.toml files
// (containerd 2.x, then 1.x).
func (s snippets) containerdConfig() string {
	return "# containerd 2.x: /etc/containerd/config.toml\n" +
		"[plugins.\"io.containerd.cri.v1.images\".registry]\n" +
		"  config_path = \"/etc/containerd/certs.d\"\n\n" +
		"# containerd 1.6 / 1.7\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\".registry]\n" +
		"  config_path = \"/etc/containerd/certs.d\""
}

// hostsTOML is /etc/containerd/certs.d/<name>/hosts.toml for one upstream.
func (s snippets) hostsTOML(name string) string {
	return fmt.Sprintf("server = \"%s\"\n\n[host.\"%s\"]\n  capabilities = [\"pull\", \"resolve\"]", serverOf(name), s.base)
}

// containerdScript writes every upstream's hosts.toml.
func (s snippets) containerdScript() string {
	var b strings.Builder
	for i, u := range s.ups {
		if i > 0 {
			b.WriteString("\n")
		}
		dir := "/etc/containerd/certs.d/" + u.Name
		fmt.Fprintf(&b, "sudo mkdir -p %s\nsudo tee %s/hosts.toml >/dev/null <<'EOF'\n%s\nEOF\n", dir, dir, s.hostsTOML(u.Name))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// registriesYAML is k3s's and RKE2's /etc/rancher/{k3s,rke2}/registries.yaml.
func (s snippets) registriesYAML() string {
	var b strings.Builder
	b.WriteString("mirrors:\n")
	for _, u := range s.ups {
		fmt.Fprintf(&b, "  %s:\n    endpoint:\n      - \"%s\"\n", yamlKey(u.Name), s.base)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func yamlKey(s string) string {
	if strings.ContainsAny(s, ":") {
		return `"` + s + `"`
	}
	return s
}

// kindConfig makes kind's nodes read hosts.toml files from ./certs.d.
func (s snippets) kindConfig() string {
	return "kind: Cluster\n" +
		"apiVersion: kind.x-k8s.io/v1alpha4\n" +
		"containerdConfigPatches:\n" +
		"  - |-\n" +
		"    [plugins.\"io.containerd.grpc.v1.cri\".registry]\n" +
		"      config_path = \"/etc/containerd/certs.d\"\n" +
		"nodes:\n" +
		"  - role: control-plane\n" +
		"    extraMounts:\n" +
		"      - hostPath: ./certs.d          # the hosts.toml files of the containerd section\n" +
		"        containerPath: /etc/containerd/certs.d"
}

// podmanConf is /etc/containers/registries.conf.d/regmirror.conf: each
// upstream gets the mirror as a mirror location, with the registry name
// as a path prefix so the mirror knows where to go.
func (s snippets) podmanConf() string {
	var b strings.Builder
	for i, u := range s.ups {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[[registry]]\nprefix = \"%s\"\nlocation = \"%s\"\n\n[[registry.mirror]]\nlocation = \"%s/%s\"\n", u.Name, u.Name, s.host, u.Name)
		if s.insecure {
			b.WriteString("insecure = true\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// tools are one-line examples for other clients, with the flag each
// needs for plain HTTP.
func (s snippets) tools() string {
	ref := s.host + "/gcr.io/distroless/static:latest"
	flag := func(f string) string {
		if s.insecure {
			return " " + f
		}
		return ""
	}
	return "crane manifest" + flag("--insecure") + " " + ref + "\n" +
		"skopeo inspect" + flag("--tls-verify=false") + " docker://" + ref + "\n" +
		"oras manifest fetch" + flag("--plain-http") + " " + ref + "\n" +
		"nerdctl pull" + flag("--insecure-registry") + " " + ref + "\n" +
		"helm pull" + flag("--plain-http") + " oci://" + s.host + "/docker.io/bitnamicharts/nginx"
}
