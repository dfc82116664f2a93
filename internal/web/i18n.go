package web

// messages holds every text of the page in English and Chinese. Keys
// starting with "js." are also handed to the script (as data attributes of
// #i18n, without the prefix).
var messages = map[string][2]string{
	"title":         {"Container image mirror", "容器镜像加速"},
	"nav":           {"Sections", "目录"},
	"nav.resolve":   {"Resolve", "查询"},
	"nav.upstreams": {"Registries", "上游仓库"},
	"nav.clients":   {"Set up", "客户端配置"},
	"nav.status":    {"Status", "状态"},
	"theme":         {"Switch light or dark theme", "切换浅色/深色主题"},

	"hero.title": {"A pull-through mirror for container images", "容器镜像拉取加速器"},
	"hero.lead": {"Pull images from Docker Hub, gcr.io, registry.k8s.io, quay.io, ghcr.io and more through this mirror. The first pull of an image fetches it from the upstream registry and keeps a copy; later pulls are served from the cache, fast and without touching upstream rate limits. The mirror is read-only: it never accepts pushes.",
		"通过本镜像站拉取 Docker Hub、gcr.io、registry.k8s.io、quay.io、ghcr.io 等仓库的镜像。首次拉取时从上游仓库获取并缓存，之后的拉取直接由缓存提供，速度快，也不消耗上游的拉取配额。本站只读，不接受推送。"},
	"hero.address": {"Mirror address:", "镜像站地址："},
	"hero.http":    {"plain HTTP: clients must allow it as insecure", "明文 HTTP：客户端需将其设为 insecure"},

	"resolve.title":  {"Which registry serves an image?", "镜像从哪个仓库拉取？"},
	"resolve.help":   {"Type an image reference as you would write it for docker pull. The mirror tells which upstream registry will serve it and the command to pull it through this mirror.", "输入镜像名（与 docker pull 的写法相同），即可看到它将由哪个上游仓库提供，以及通过本站拉取的命令。"},
	"resolve.label":  {"Image reference", "镜像名"},
	"resolve.button": {"Resolve", "查询"},

	"up.title":    {"Mirrored registries", "已加速的上游仓库"},
	"up.explicit": {"Put the registry in front of the image name, after the mirror's address, to pull from a given registry (explicit names):", "在镜像名前加上仓库地址（再加上本站地址），即可指定从哪个仓库拉取（显式写法）："},
	"up.registry": {"Registry", "仓库"},
	"up.short":    {"Short names", "短名称"},
	"up.example":  {"Explicit pull", "显式拉取示例"},
	"up.aliases":  {"also:", "别名："},

	"imp.title":    {"Short names", "短名称（隐式写法）"},
	"imp.help":     {"Names without a registry, such as nginx or pause, are looked up on the registries marked with a number, in this order:", "不带仓库地址的镜像名（如 nginx、pause）会按以下顺序在标有序号的仓库中查找："},
	"imp.remember": {"The first registry that has the image serves it, and the mirror remembers the answer.", "第一个拥有该镜像的仓库将提供它，本站会记住这个结果。"},
	"imp.usually":  {"usually", "通常来自"},
	"imp.check":    {"check", "查询"},
	"imp.pin":      {"Docker Hub names keep resolving to Docker Hub as long as docker.io is first in the list; the operator can also pin names to a registry with routes.", "只要 docker.io 排在第一位，Docker Hub 的镜像名就始终由 Docker Hub 提供；管理员也可以用 routes 规则把某些名称固定到指定仓库。"},
	"imp.none":     {"This mirror does not search for short names: always write the registry.", "本站不查找短名称：请始终写出仓库地址。"},

	"cl.title":       {"Set up your client", "配置客户端"},
	"cl.docker":      {"Docker uses registry-mirrors for Docker Hub images only. Add this to daemon.json and restart the daemon:", "Docker 的 registry-mirrors 只对 Docker Hub 的镜像生效。将以下内容加入 daemon.json 并重启 Docker："},
	"cl.docker.note": {"For other registries, pull with the explicit name shown in the table above (docker pull <mirror>/gcr.io/…). If the mirror is unreachable, Docker falls back to Docker Hub.", "其他仓库的镜像请使用上表中的显式写法（docker pull <本站>/gcr.io/…）。本站不可用时，Docker 会回退到 Docker Hub。"},
	"cl.ctrd":        {"containerd (and nerdctl, k3s, kubeadm and kind nodes) reads one hosts.toml per registry. Enable the directory in config.toml and restart containerd; the old registry.mirrors form is deprecated.", "containerd（以及 nerdctl、k3s、kubeadm 和 kind 节点）为每个仓库读取一个 hosts.toml。在 config.toml 中启用该目录并重启 containerd；旧的 registry.mirrors 写法已弃用。"},
	"cl.ctrd.files":  {"Then create one hosts.toml per registry. This script writes them all:", "然后为每个仓库创建一个 hosts.toml，以下脚本会一次写好全部文件："},
	"cl.ctrd.script": {"all registries at once", "一次配置全部仓库"},
	"cl.ctrd.note":   {"containerd tells the mirror which registry an image is from (the ns parameter), so short names and explicit names both work. New hosts.toml files are read on the next pull, without a restart; if the mirror fails, containerd falls back to the server line.", "containerd 会通过 ns 参数告诉本站镜像来自哪个仓库，因此短名称和完整名称都可以使用。新的 hosts.toml 在下次拉取时生效，无需重启；本站不可用时，containerd 会回退到 server 指定的地址。"},
	"cl.k3s":         {"k3s and RKE2 generate containerd's hosts.toml files from registries.yaml. Write it on every node and restart k3s (or rke2-server / rke2-agent):", "k3s 和 RKE2 会根据 registries.yaml 生成 containerd 的 hosts.toml。在每个节点上写入该文件，然后重启 k3s（或 rke2-server / rke2-agent）："},
	"cl.kind":        {"kind nodes run containerd: enable config_path and mount a directory holding the hosts.toml files from the containerd section (created under ./certs.d instead of /etc/containerd/certs.d):", "kind 的节点运行 containerd：启用 config_path，并挂载一个包含 containerd 一节中 hosts.toml 文件的目录（放在 ./certs.d 而不是 /etc/containerd/certs.d）："},
	"cl.kubeadm":     {"kubeadm clusters pull through the node's container runtime: configure containerd on every node as shown above (or CRI-O with the Podman file below). Nothing changes in kubeadm itself.", "kubeadm 集群通过节点上的容器运行时拉取镜像：按上文在每个节点上配置 containerd（CRI-O 则使用下面的 Podman 配置文件），kubeadm 本身无需改动。"},
	"cl.podman":      {"Podman, Buildah, Skopeo and CRI-O read registries.conf. Each registry gets this mirror as a mirror location, with the registry name as a path so the mirror knows where to go:", "Podman、Buildah、Skopeo 和 CRI-O 读取 registries.conf。为每个仓库把本站配置为 mirror，并在路径中带上仓库名，这样本站就知道应从哪里拉取："},
	"cl.tools":       {"Tools that take a full reference work with the explicit form:", "接受完整镜像地址的工具可直接使用显式写法："},

	"st.title":     {"Live status", "实时状态"},
	"st.live":      {"updates every few seconds", "每隔几秒自动刷新"},
	"st.hit":       {"Cache hit ratio", "缓存命中率"},
	"st.today":     {"Served today", "今日流量"},
	"st.cache":     {"Cache", "缓存"},
	"st.downloads": {"Downloads in progress", "正在下载"},
	"st.state":     {"State", "状态"},
	"st.latency":   {"Latency", "延迟"},
	"st.ratelimit": {"Pull budget", "拉取配额"},
	"st.updated":   {"Updated", "更新于"},

	"footer": {"pull-through mirror, read-only", "镜像加速，只读"},

	"js.copy":          {"Copy", "复制"},
	"js.copied":        {"Copied", "已复制"},
	"js.copy-failed":   {"Press Ctrl+C to copy", "请按 Ctrl+C 复制"},
	"js.resolving":     {"Resolving…", "查询中…"},
	"js.upstream":      {"Upstream", "上游仓库"},
	"js.repository":    {"Repository", "仓库路径"},
	"js.reference":     {"Tag or digest", "标签或摘要"},
	"js.how":           {"Decided by", "判定方式"},
	"js.pull":          {"Pull through this mirror", "通过本站拉取"},
	"js.error":         {"Cannot resolve", "无法解析"},
	"js.how-ns":        {"the ns parameter sent by containerd", "containerd 发送的 ns 参数"},
	"js.how-prefix":    {"the registry written in the name", "名称中写明的仓库"},
	"js.how-rule":      {"a routing rule of this mirror", "本站的路由规则"},
	"js.how-implicit":  {"searching the registries in order", "按顺序查找各仓库"},
	"js.how-cached":    {"an earlier search, remembered", "之前查找的结果（已记住）"},
	"js.state-up":      {"reachable", "正常"},
	"js.state-down":    {"unreachable", "不可达"},
	"js.state-limited": {"rate limited", "被限流"},
	"js.state-unknown": {"not contacted yet", "尚未连接"},
	"js.objects":       {"%d objects", "%d 个对象"},
}

// jsKeys are the "js." messages handed to the script.
var jsKeys = []string{"copy", "copied", "copy-failed", "resolving", "upstream", "repository", "reference", "how", "pull", "error",
	"how-ns", "how-prefix", "how-rule", "how-implicit", "how-cached",
	"state-up", "state-down", "state-limited", "state-unknown", "objects"}

// message returns key in l, or "" for an unknown key.
func message(l lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return ""
	}
	if l == langZH {
		return m[1]
	}
	return m[0]
}
