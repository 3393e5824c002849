package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testport"
)

// root is the repository root, where the Dockerfile and
// docker-compose.yml are.
const root = ".."

// The services docker-compose.yml must run, and which of them are one-shot
// setup steps (run to completion; the others run on and are health-checked).
var (
	wantServices = []string{"lb", "trustid-1", "trustid-2", "redis", "orderer", "peer-310000", "peer-320000", "peer-330000", "chaincode",
		"fabric-init", "setup", "trustid-2-keys"}
	oneShot = []string{"fabric-init", "setup", "trustid-2-keys"}
	// regions are the Fabric organizations the network runs, the three
	// of the native test network (REGIONS in scripts/fabric/env.sh,
	// TestComposeRegionsMatchTestNetwork): region code to the compose
	// service of its peer.
	regions = map[string]string{"310000": "peer-310000", "320000": "peer-320000", "330000": "peer-330000"}
)

type compose struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       *build            `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	Restart         string `yaml:"restart"`
	StopGracePeriod string `yaml:"stop_grace_period"`
	Networks        map[string]struct {
		Aliases     []string `yaml:"aliases"`
		IPv4Address string   `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

type build struct {
	Context string `yaml:"context"`
	Target  string `yaml:"target"`
}

// serviceKeys are the keys a service may have: a typo (depends_no) would
// otherwise be ignored by the decoder and by Compose alike.
var serviceKeys = []string{"image", "build", "command", "entrypoint", "environment", "ports", "volumes", "depends_on",
	"healthcheck", "restart", "stop_grace_period", "networks"}

func loadCompose(t *testing.T) compose {
	t.Helper()
	raw := readFile(t, "docker-compose.yml")
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var loose struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &loose); err != nil {
		t.Fatal(err)
	}
	for name, s := range loose.Services {
		for k := range s {
			if !slices.Contains(serviceKeys, k) {
				t.Errorf("service %s: unexpected key %q", name, k)
			}
		}
	}
	return c
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mount is one entry of a service's volumes.
type mount struct {
	source, target string
	bind, readOnly bool
}

func parseMount(t *testing.T, svc, v string) mount {
	t.Helper()
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		t.Fatalf("service %s: volume %q is not SOURCE:TARGET[:ro]", svc, v)
	}
	m := mount{source: parts[0], target: parts[1]}
	m.bind = strings.HasPrefix(m.source, "./") || strings.HasPrefix(m.source, "/")
	if len(parts) == 3 {
		if parts[2] != "ro" {
			t.Errorf("service %s: volume %q: mode %q (want ro or none)", svc, v, parts[2])
		}
		m.readOnly = true
	}
	return m
}

// hostPath maps a path inside a service's container to the repository
// file a bind mount puts there ("" when no bind mount covers it).
func hostPath(t *testing.T, name string, s service, p string) string {
	t.Helper()
	for _, v := range s.Volumes {
		m := parseMount(t, name, v)
		if !m.bind {
			continue
		}
		if p == m.target {
			return filepath.Join(root, m.source)
		}
		if rest, ok := strings.CutPrefix(p, m.target+"/"); ok {
			return filepath.Join(root, m.source, rest)
		}
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	if c.Name == "" {
		t.Error("docker-compose.yml has no project name")
	}
	var got []string
	for name := range c.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	want := slices.Clone(wantServices)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	// Two TrustID instances of one region, each with its own --instance.
	instances := map[string]bool{}
	for _, name := range []string{"trustid-1", "trustid-2"} {
		s := c.Services[name]
		if s.Build == nil || s.Build.Target != "trustid" {
			t.Errorf("%s: not built from the Dockerfile's trustid target", name)
		}
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			t.Errorf("%s: command %v does not run `trustid serve`", name, s.Command)
		}
		i := slices.Index(s.Command, "--instance")
		if i < 0 || i+1 >= len(s.Command) || instances[s.Command[i+1]] {
			t.Errorf("%s: command %v names no --instance of its own", name, s.Command)
		} else {
			instances[s.Command[i+1]] = true
		}
	}
	if cc := c.Services["chaincode"]; cc.Build == nil || cc.Build.Target != "chaincode" {
		t.Error("chaincode: not built from the Dockerfile's chaincode target")
	}
}

// exactTag is an image reference pinned to an exact x.y.z release.
var exactTag = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*:v?\d+\.\d+\.\d+$`)

func TestComposeImagesPinned(t *testing.T) {
	c := loadCompose(t)
	stages := dockerStages(t)
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("%s: no image", name)
			continue
		}
		_, tag, ok := strings.Cut(s.Image, ":")
		if !ok || tag == "" || tag == "latest" || strings.Contains(s.Image, "@") {
			t.Errorf("%s: image %q has no explicit tag", name, s.Image)
			continue
		}
		if s.Build != nil {
			// Built here: the tag names the local build, the target a stage.
			if s.Build.Context != "." {
				t.Errorf("%s: build context %q, want the repository root", name, s.Build.Context)
			}
			if _, ok := stages[s.Build.Target]; !ok {
				t.Errorf("%s: build target %q is not a Dockerfile stage", name, s.Build.Target)
			}
			continue
		}
		if !exactTag.MatchString(s.Image) {
			t.Errorf("%s: image %q is not pinned to an exact release", name, s.Image)
		}
	}
	// One Fabric release for every Fabric image.
	fabric := map[string]bool{}
	for _, s := range c.Services {
		if strings.HasPrefix(s.Image, "hyperledger/fabric-") {
			_, tag, _ := strings.Cut(s.Image, ":")
			fabric[tag] = true
			if !strings.HasPrefix(tag, "2.5.") {
				t.Errorf("Fabric image %s is not a 2.5.x release", s.Image)
			}
		}
	}
	if len(fabric) != 1 {
		t.Errorf("Fabric images of several releases: %v", fabric)
	}
}

func TestComposePortsAndVolumes(t *testing.T) {
	c := loadCompose(t)
	used := map[string]bool{}
	for name, s := range c.Services {
		// Only the load balancer is published: the instances, Redis and
		// the Fabric nodes are reached on the Compose network.
		if name == "lb" {
			if !slices.Equal(s.Ports, []string{"8080:8080"}) {
				t.Errorf("lb: ports %v, want [8080:8080]", s.Ports)
			}
		} else if len(s.Ports) != 0 {
			t.Errorf("%s: publishes %v; only lb should", name, s.Ports)
		}
		for _, v := range s.Volumes {
			m := parseMount(t, name, v)
			if !m.bind {
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("%s: volume %q is not declared under volumes", name, m.source)
				}
				used[m.source] = true
				continue
			}
			// Every bind-mounted file or directory is in the repository,
			// read-only.
			if !strings.HasPrefix(m.source, "./") {
				t.Errorf("%s: bind mount %q is not relative to the repository", name, m.source)
				continue
			}
			if _, err := os.Stat(filepath.Join(root, m.source)); err != nil {
				t.Errorf("%s: bind-mounted %s: %v", name, m.source, err)
			}
			if !m.readOnly {
				t.Errorf("%s: bind mount %s is writable", name, m.source)
			}
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %q is declared but no service uses it", v)
		}
	}
	// Each stateful service keeps its state in a named volume.
	for name, target := range map[string]string{"trustid-1": "/data", "trustid-2": "/data", "redis": "/data",
		"orderer": "/var/hyperledger/production", "peer-310000": "/var/hyperledger/production", "peer-320000": "/var/hyperledger/production",
		"peer-330000": "/var/hyperledger/production"} {
		found := false
		for _, v := range c.Services[name].Volumes {
			if m := parseMount(t, name, v); !m.bind && m.target == target && !m.readOnly {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no writable named volume at %s", name, target)
		}
	}
	// Commands that run a script name a file a bind mount provides.
	for name, s := range c.Services {
		for _, arg := range s.Command {
			if !strings.HasSuffix(arg, ".sh") {
				continue
			}
			p := hostPath(t, name, s, arg)
			if p == "" {
				t.Errorf("%s: runs %s, which no bind mount provides", name, arg)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: runs %s: %v", name, arg, err)
			}
		}
	}
}

func TestComposeHealthchecksAndDependencies(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if slices.Contains(oneShot, name) {
			if s.Restart != "" || s.Healthcheck != nil {
				t.Errorf("%s: a one-shot step has restart %q or a healthcheck", name, s.Restart)
			}
			continue
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
		h := s.Healthcheck
		if h == nil || len(h.Test) < 2 || h.Test[0] != "CMD" || h.Interval == "" || h.Timeout == "" || h.Retries < 1 {
			t.Errorf("%s: healthcheck %+v: want test [CMD ...] with interval, timeout and retries", name, h)
		}
	}
	// The healthchecks of the images with no shell run their own binary.
	for name, want := range map[string][]string{
		"trustid-1": {"CMD", "/trustid", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"},
		"trustid-2": {"CMD", "/trustid", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"},
		"chaincode": {"CMD", "/trustid-chaincode", "healthcheck"},
	} {
		if h := c.Services[name].Healthcheck; h == nil || !slices.Equal(h.Test, want) {
			t.Errorf("%s: healthcheck test %v, want %v", name, h, want)
		}
	}
	// depends_on: known services, a condition each, healthy only of a
	// health-checked service, completed only of a one-shot step, no cycle.
	waitedFor := map[string]bool{}
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			ds, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s: depends on unknown service %q", name, dep)
				continue
			}
			waitedFor[dep] = true
			switch d.Condition {
			case "service_healthy":
				if ds.Healthcheck == nil {
					t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case "service_completed_successfully":
				if !slices.Contains(oneShot, dep) {
					t.Errorf("%s: waits for %s to complete, which runs on", name, dep)
				}
			case "service_started":
			default:
				t.Errorf("%s: depends on %s with condition %q", name, dep, d.Condition)
			}
		}
	}
	for _, name := range oneShot {
		if !waitedFor[name] {
			t.Errorf("one-shot %s: no service waits for it", name)
		}
	}
	var visit func(string, []string)
	visit = func(name string, path []string) {
		if slices.Contains(path, name) {
			t.Fatalf("depends_on cycle: %v", append(path, name))
		}
		for dep := range c.Services[name].DependsOn {
			visit(dep, append(path, name))
		}
	}
	for name := range c.Services {
		visit(name, nil)
	}
	// The order the network needs: crypto material before the Fabric
	// nodes, the channel and contract before TrustID, the keystore copy
	// after the first instance, the load balancer after an instance.
	for _, x := range []struct{ svc, dep, cond string }{
		{"orderer", "fabric-init", "service_completed_successfully"},
		{"peer-310000", "fabric-init", "service_completed_successfully"},
		{"peer-320000", "fabric-init", "service_completed_successfully"},
		{"peer-330000", "fabric-init", "service_completed_successfully"},
		{"setup", "orderer", "service_healthy"},
		{"setup", "peer-310000", "service_healthy"},
		{"setup", "peer-320000", "service_healthy"},
		{"setup", "peer-330000", "service_healthy"},
		{"setup", "chaincode", "service_healthy"},
		{"trustid-1", "setup", "service_completed_successfully"},
		{"trustid-1", "redis", "service_healthy"},
		{"trustid-2-keys", "trustid-1", "service_healthy"},
		{"trustid-2", "trustid-2-keys", "service_completed_successfully"},
		{"trustid-2", "redis", "service_healthy"},
		{"lb", "trustid-1", "service_healthy"},
	} {
		if got := c.Services[x.svc].DependsOn[x.dep].Condition; got != x.cond {
			t.Errorf("%s depends on %s with %q, want %q", x.svc, x.dep, got, x.cond)
		}
	}
}

// opsServer answers the operations endpoint's paths as a Fabric node's
// would: /healthz with code, /metrics with metrics. It returns the port.
func opsServer(t *testing.T, code int, metrics string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(code)
			io.WriteString(w, `{"status":"OK"}`)
		case "/metrics":
			io.WriteString(w, metrics)
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestFabricChecksNeedNoHTTPClient: the Fabric images (Ubuntu since
// 2.5.0) have bash but neither wget nor curl, so the orderer's and peers'
// healthchecks and setup.sh's wait for the Raft leader speak HTTP through
// bash's /dev/tcp. Each is run here as written, against a server on
// another port: healthy only on a 200, the leader only when the metrics
// say so.
func TestFabricChecksNeedNoHTTPClient(t *testing.T) {
	c := loadCompose(t)
	const addr = "/dev/tcp/127.0.0.1/9443"
	for name, s := range c.Services {
		if !strings.HasPrefix(s.Image, "hyperledger/fabric-") || s.Healthcheck == nil {
			continue
		}
		h := s.Healthcheck.Test
		if len(h) != 4 || h[1] != "bash" || h[2] != "-c" || strings.Count(h[3], addr) != 1 ||
			strings.Contains(h[3], "wget") || strings.Contains(h[3], "curl") || strings.Contains(h[3], "$") {
			t.Errorf("%s: healthcheck %q: want [CMD bash -c SCRIPT] reaching %s without an HTTP client or a $ (Compose would interpolate it)", name, h, addr)
			continue
		}
		for _, x := range []struct {
			code int
			ok   bool
		}{{200, true}, {503, false}} {
			port := opsServer(t, x.code, "")
			err := exec.Command("bash", "-c", strings.Replace(h[3], addr, "/dev/tcp/127.0.0.1/"+port, 1)).Run()
			if (err == nil) != x.ok {
				t.Errorf("%s: healthcheck against /healthz answering %d: %v, want healthy %v", name, x.code, err, x.ok)
			}
		}
		_, closed, _ := net.SplitHostPort(testport.Reserve(t)) // nothing listens there
		if err := exec.Command("bash", "-c", strings.Replace(h[3], addr, "/dev/tcp/127.0.0.1/"+closed, 1)).Run(); err == nil {
			t.Errorf("%s: healthcheck passed with nothing listening", name)
		}
	}

	setup := string(readFile(t, "deploy/fabric/setup.sh"))
	fn := regexp.MustCompile(`(?ms)^raft_leader\(\) \{\n.*?^\}\n`).FindString(setup)
	if fn == "" || strings.Contains(setup, "wget") || strings.Contains(setup, "curl") {
		t.Fatal("setup.sh: want a raft_leader function and no wget or curl (not in fabric-tools)")
	}
	leader := "consensus_etcdraft_is_leader{channel=\"trustid\"} 1\n"
	for _, x := range []struct {
		metrics string
		ok      bool
	}{
		{"# TYPE consensus_etcdraft_is_leader gauge\n" + leader, true},
		{strings.Replace(leader, "} 1", "} 0", 1), false},
		{strings.Replace(leader, "trustid", "other", 1), false},
	} {
		port := opsServer(t, 200, x.metrics)
		err := exec.Command("bash", "-c", fn+"ORDERER=127.0.0.1 OPS_PORT="+port+" CH=trustid raft_leader").Run()
		if (err == nil) != x.ok {
			t.Errorf("raft_leader with metrics %q: %v, want leader %v", x.metrics, err, x.ok)
		}
	}
}

// TestComposeTrustIDConfig: the instances run `trustid serve` with the
// committed config file, whose settings are flags of serve and name the
// Compose services; the KEK comes from the environment only.
func TestComposeTrustIDConfig(t *testing.T) {
	c := loadCompose(t)
	var cfg map[string]string
	if err := yaml.Unmarshal(readFile(t, "deploy/trustid/trustid.yaml"), &cfg); err != nil {
		t.Fatalf("deploy/trustid/trustid.yaml: %v", err)
	}
	for k := range cfg {
		if strings.Contains(strings.ToLower(k), "kek") {
			t.Errorf("trustid.yaml sets %q: the KEK comes from TRUSTID_KEK only", k)
		}
	}
	if cfg["region"] != "310000" || cfg["redis-url"] != "redis://redis:6379/0" || cfg["ledger"] != "fabric" ||
		cfg["fabric-channel"] != "trustid" || cfg["fabric-chaincode"] != "trustid" || cfg["data"] != "/data" {
		t.Errorf("trustid.yaml: %v", cfg)
	}
	if _, port, err := net.SplitHostPort(cfg["addr"]); err != nil || port != "8080" {
		t.Errorf("trustid.yaml: addr %q, want port 8080 (the healthcheck's and the load balancer's)", cfg["addr"])
	}
	for _, name := range []string{"trustid-1", "trustid-2"} {
		s := c.Services[name]
		if i := slices.Index(s.Command, "--config"); i < 0 || i+1 >= len(s.Command) {
			t.Errorf("%s: no --config in %v", name, s.Command)
		} else if p := hostPath(t, name, s, s.Command[i+1]); p != filepath.Join(root, "deploy/trustid/trustid.yaml") {
			t.Errorf("%s: --config %s is not the committed deploy/trustid/trustid.yaml (%q)", name, s.Command[i+1], p)
		}
		if p := hostPath(t, name, s, cfg["fabric-profile"]); p == "" {
			t.Errorf("%s: the fabric-profile %s is not mounted", name, cfg["fabric-profile"])
		}
		// A TRUSTID_KEK value in the file would be a committed key.
		if kek := s.Environment["TRUSTID_KEK"]; !strings.HasPrefix(kek, "${TRUSTID_KEK:?") {
			t.Errorf("%s: TRUSTID_KEK is %q, want ${TRUSTID_KEK:?...} (required from the environment)", name, kek)
		}
		for k := range s.Environment {
			if k != "TRUSTID_KEK" {
				t.Errorf("%s: environment %s: settings belong in trustid.yaml", name, k)
			}
		}
	}
	// Every key is a flag of `trustid serve`.
	help, err := exec.Command("go", "run", "../cmd/trustid", "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("trustid serve --help: %v\n%s", err, help)
	}
	for k := range cfg {
		if !bytes.Contains(help, []byte("--"+k+" ")) {
			t.Errorf("trustid.yaml: %q is not a flag of trustid serve", k)
		}
	}
	// Docker sends SIGKILL stop_grace_period after SIGTERM (10 s when
	// unset): it must leave serve its drain time and a margin.
	drain := cfg["shutdown-timeout"]
	if drain == "" {
		m := regexp.MustCompile(`--shutdown-timeout duration .*\(default (\S+)\)`).FindSubmatch(help)
		if m == nil {
			t.Fatalf("trustid serve --help names no --shutdown-timeout default:\n%s", help)
		}
		drain = string(m[1])
	}
	want, err := time.ParseDuration(drain)
	if err != nil {
		t.Fatalf("--shutdown-timeout %q: %v", drain, err)
	}
	for _, name := range []string{"trustid-1", "trustid-2"} {
		grace, err := time.ParseDuration(c.Services[name].StopGracePeriod)
		if err != nil || grace < want+5*time.Second {
			t.Errorf("%s: stop_grace_period %q, want at least --shutdown-timeout (%v) + 5s", name, c.Services[name].StopGracePeriod, want)
		}
	}
}

// TestLoadBalancerConfig: HAProxy forwards to both instances on their
// port, health-checking /readyz; `haproxy -c` accepts the file.
func TestLoadBalancerConfig(t *testing.T) {
	c := loadCompose(t)
	lb := c.Services["lb"]
	cfgPath := hostPath(t, "lb", lb, "/usr/local/etc/haproxy/haproxy.cfg")
	if cfgPath == "" {
		t.Fatal("lb: haproxy.cfg is not mounted at the image's /usr/local/etc/haproxy/haproxy.cfg")
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]bool{}
	var httpchk, bind, forwardfor bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 4 && f[0] == "server" && f[3] == "check":
			servers[f[2]] = true
		case slices.Equal(f, []string{"option", "httpchk", "GET", "/readyz"}):
			httpchk = true
		case slices.Equal(f, []string{"bind", ":8080"}):
			bind = true
		case slices.Equal(f, []string{"option", "forwardfor"}):
			forwardfor = true
		}
	}
	// The instances take the client address from X-Forwarded-For only
	// from the balancer's own address, and HAProxy appends it.
	if !forwardfor {
		t.Error("haproxy.cfg: no `option forwardfor`: the instances would count every client as the balancer")
	}
	var cfg map[string]string
	if err := yaml.Unmarshal(readFile(t, "deploy/trustid/trustid.yaml"), &cfg); err != nil {
		t.Fatal(err)
	}
	lbAddr, err := netip.ParseAddr(lb.Networks["default"].IPv4Address)
	if err != nil {
		t.Fatalf("lb: no fixed ipv4_address on the default network: %v", err)
	}
	if want := lbAddr.String() + "/32"; cfg["trusted-proxies"] != want {
		t.Errorf("trustid.yaml: trusted-proxies %q, want the balancer's %s", cfg["trusted-proxies"], want)
	}
	if ipam := c.Networks["default"].IPAM.Config; len(ipam) != 1 || !subnetHolds(ipam[0].Subnet, lbAddr) {
		t.Errorf("the default network's subnet %+v does not hold the balancer's %s", ipam, lbAddr)
	}
	if !servers["trustid-1:8080"] || !servers["trustid-2:8080"] || len(servers) != 2 {
		t.Errorf("haproxy.cfg servers %v, want trustid-1:8080 and trustid-2:8080, checked", servers)
	}
	if !httpchk || !bind {
		t.Errorf("haproxy.cfg: health check of /readyz %v, bind :8080 %v", httpchk, bind)
	}
	// scripts/test.sh installs HAProxy (the load balancer proof needs it).
	haproxy, err := exec.LookPath("haproxy")
	testenv.Require(t, "haproxy", err)
	if out, err := exec.Command(haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
}

func subnetHolds(subnet string, a netip.Addr) bool {
	p, err := netip.ParsePrefix(subnet)
	return err == nil && p.Contains(a)
}

// dockerStage is one FROM ... AS name stage of the Dockerfile.
type dockerStage struct {
	base  string
	lines []string // instructions after FROM, continuation lines joined
	index int
}

func dockerStages(t *testing.T) map[string]*dockerStage {
	t.Helper()
	stages := map[string]*dockerStage{}
	var cur *dockerStage
	var pending string
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "Dockerfile")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			pending += s + " "
			continue
		}
		line, pending = pending+line, ""
		f := strings.Fields(line)
		if strings.EqualFold(f[0], "FROM") {
			if len(f) != 4 || !strings.EqualFold(f[2], "AS") {
				t.Fatalf("Dockerfile: %q: want FROM IMAGE AS NAME", line)
			}
			cur = &dockerStage{base: f[1], index: len(stages)}
			stages[f[3]] = cur
			continue
		}
		if cur == nil {
			t.Fatalf("Dockerfile: %q before the first FROM", line)
		}
		cur.lines = append(cur.lines, line)
	}
	return stages
}

func (s *dockerStage) has(prefix string) bool {
	return slices.ContainsFunc(s.lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// TestDockerfile: a build stage on go.mod's Go release builds both
// binaries static and trimmed; the trustid (default, last) and chaincode
// stages are an empty base with the CA bundle and the binary, run as a
// numeric non-root user.
func TestDockerfile(t *testing.T) {
	stages := dockerStages(t)
	if len(stages) < 3 {
		t.Fatalf("Dockerfile has %d stages, want build, chaincode and trustid", len(stages))
	}
	b := stages["build"]
	if b == nil {
		t.Fatal("Dockerfile has no build stage")
	}
	m := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	if want := "golang:" + string(m[1]); b.base != want {
		t.Errorf("build stage FROM %s, want %s (go.mod's toolchain)", b.base, want)
	}
	if !b.has("ENV CGO_ENABLED=0") {
		t.Error("build stage does not set CGO_ENABLED=0")
	}
	for _, cmd := range []string{"./cmd/trustid ", "./cmd/trustid-chaincode "} {
		built := slices.ContainsFunc(b.lines, func(l string) bool {
			return strings.Contains(l, "go build -trimpath ") && strings.Contains(l+" ", cmd)
		})
		if !built {
			t.Errorf("build stage does not go build -trimpath %s", cmd)
		}
	}
	last := ""
	for name, s := range stages {
		if s.index == len(stages)-1 {
			last = name
		}
	}
	if last != "trustid" {
		t.Errorf("the last (default) stage is %q, want trustid", last)
	}
	for name, bin := range map[string]string{"trustid": "/trustid", "chaincode": "/trustid-chaincode"} {
		s := stages[name]
		if s == nil {
			t.Errorf("no %s stage", name)
			continue
		}
		if s.base != "scratch" && !strings.HasPrefix(s.base, "gcr.io/distroless/static") {
			t.Errorf("%s stage FROM %s, want scratch or distroless static", name, s.base)
		}
		if !s.has("COPY --from=build /etc/ssl/certs/ca-certificates.crt ") {
			t.Errorf("%s stage has no CA bundle", name)
		}
		if !s.has("COPY --from=build /out/"+strings.TrimPrefix(bin, "/")+" "+bin) || !s.has(`ENTRYPOINT ["`+bin+`"]`) {
			t.Errorf("%s stage does not copy and run %s", name, bin)
		}
		users := 0
		for _, l := range s.lines {
			if u, ok := strings.CutPrefix(l, "USER "); ok {
				users++
				if !regexp.MustCompile(`^[1-9]\d*(:[1-9]\d*)?$`).MatchString(u) {
					t.Errorf("%s stage: USER %s, want a numeric non-root UID", name, u)
				}
			}
		}
		if users != 1 {
			t.Errorf("%s stage: %d USER lines, want 1", name, users)
		}
	}
}

// TestStaticBinaries builds both binaries with CGO_ENABLED=0, as the
// Dockerfile does, and checks that they are static (no ELF interpreter, no
// shared libraries): an empty base image could not run them otherwise.
// It leaves out the Dockerfile's -trimpath, which does not change linking
// but would compile every package again instead of reusing the test
// build's cache (minutes on a cold CI machine).
func TestStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	dir := t.TempDir()
	for _, cmd := range []string{"trustid", "trustid-chaincode"} {
		out := filepath.Join(dir, cmd)
		c := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "../cmd/"+cmd)
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, b)
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has an ELF interpreter: not static", cmd)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s links %v: not static", cmd, libs)
		}
		f.Close()
	}
}

// peerDomain and peerNode are a region's organization domain and the
// in-container path of its peer's material in the `fabric` volume, as
// cryptogen lays it out.
func peerDomain(region string) string { return "r" + region + ".trustid.local" }

func peerNode(region string) string {
	d := peerDomain(region)
	return "/fabric/crypto/peerOrganizations/" + d + "/peers/peer0." + d
}

type cryptoConfig struct {
	OrdererOrgs []struct {
		Name          string `yaml:"Name"`
		Domain        string `yaml:"Domain"`
		EnableNodeOUs bool   `yaml:"EnableNodeOUs"`
		Specs         []struct {
			Hostname string   `yaml:"Hostname"`
			SANS     []string `yaml:"SANS"`
		} `yaml:"Specs"`
	} `yaml:"OrdererOrgs"`
	PeerOrgs []peerOrg `yaml:"PeerOrgs"`
}

type peerOrg struct {
	Name          string `yaml:"Name"`
	Domain        string `yaml:"Domain"`
	EnableNodeOUs bool   `yaml:"EnableNodeOUs"`
	Template      struct {
		Count int      `yaml:"Count"`
		SANS  []string `yaml:"SANS"`
	} `yaml:"Template"`
	Users struct {
		Count int `yaml:"Count"`
	} `yaml:"Users"`
}

// TestFabricConfig: the committed crypto-config.yaml and configtx.yaml
// name the organizations, hosts and paths the Compose services run with.
func TestFabricConfig(t *testing.T) {
	c := loadCompose(t)
	var cc cryptoConfig
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "deploy/fabric/crypto-config.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&cc); err != nil {
		t.Fatalf("crypto-config.yaml: %v", err)
	}
	// The orderer.
	if len(cc.OrdererOrgs) != 1 || len(cc.OrdererOrgs[0].Specs) != 1 {
		t.Fatalf("crypto-config.yaml: want one orderer organization with one orderer: %+v", cc.OrdererOrgs)
	}
	oo := cc.OrdererOrgs[0]
	ordererHost := oo.Specs[0].Hostname + "." + oo.Domain
	ord := c.Services["orderer"]
	if !slices.Contains(ord.Networks["default"].Aliases, ordererHost) {
		t.Errorf("orderer: network aliases %v lack %s (its certificate's name)", ord.Networks["default"].Aliases, ordererHost)
	}
	ordNode := "/fabric/crypto/ordererOrganizations/" + oo.Domain + "/orderers/" + ordererHost
	for k, want := range map[string]string{
		"ORDERER_GENERAL_LOCALMSPID":           "OrdererMSP",
		"ORDERER_GENERAL_LOCALMSPDIR":          ordNode + "/msp",
		"ORDERER_GENERAL_TLS_CERTIFICATE":      ordNode + "/tls/server.crt",
		"ORDERER_GENERAL_TLS_PRIVATEKEY":       ordNode + "/tls/server.key",
		"ORDERER_GENERAL_BOOTSTRAPMETHOD":      "none",
		"ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
		"ORDERER_GENERAL_LISTENPORT":           "7050",
		"ORDERER_ADMIN_LISTENADDRESS":          "0.0.0.0:7053",
		"ORDERER_OPERATIONS_LISTENADDRESS":     "0.0.0.0:9443",
	} {
		if got := ord.Environment[k]; got != want {
			t.Errorf("orderer: %s=%q, want %q", k, got, want)
		}
	}
	// The region peers.
	if len(cc.PeerOrgs) != len(regions) {
		t.Errorf("crypto-config.yaml: %d peer organizations, want %d", len(cc.PeerOrgs), len(regions))
	}
	for region, svc := range regions {
		i := slices.IndexFunc(cc.PeerOrgs, func(o peerOrg) bool { return o.Name == "Region"+region })
		if i < 0 {
			t.Errorf("crypto-config.yaml: no organization Region%s", region)
			continue
		}
		po := cc.PeerOrgs[i]
		if po.Domain != peerDomain(region) || !po.EnableNodeOUs || po.Template.Count != 1 || po.Users.Count < 1 ||
			!slices.Contains(po.Template.SANS, svc) {
			t.Errorf("crypto-config.yaml: Region%s: %+v", region, po)
		}
		host := "peer0." + po.Domain
		p := c.Services[svc]
		if !slices.Contains(p.Networks["default"].Aliases, host) {
			t.Errorf("%s: network aliases %v lack %s", svc, p.Networks["default"].Aliases, host)
		}
		for k, want := range map[string]string{
			"CORE_PEER_ID":                      host,
			"CORE_PEER_ADDRESS":                 host + ":7051",
			"CORE_PEER_GOSSIP_EXTERNALENDPOINT": host + ":7051",
			"CORE_PEER_LOCALMSPID":              "Region" + region + "MSP",
			"CORE_PEER_MSPCONFIGPATH":           peerNode(region) + "/msp",
			"CORE_PEER_TLS_CERT_FILE":           peerNode(region) + "/tls/server.crt",
			"CORE_PEER_TLS_KEY_FILE":            peerNode(region) + "/tls/server.key",
			"CORE_PEER_TLS_ROOTCERT_FILE":       peerNode(region) + "/tls/ca.crt",
			"CORE_PEER_TLS_ENABLED":             "true",
		} {
			if got := p.Environment[k]; got != want {
				t.Errorf("%s: %s=%q, want %q", svc, k, got, want)
			}
		}
	}

	// configtx.yaml: the channel profile's organizations and consenter.
	var ctx struct {
		Profiles map[string]struct {
			Orderer struct {
				OrdererType string `yaml:"OrdererType"`
				EtcdRaft    struct {
					Consenters []struct {
						Host          string `yaml:"Host"`
						Port          int    `yaml:"Port"`
						ClientTLSCert string `yaml:"ClientTLSCert"`
						ServerTLSCert string `yaml:"ServerTLSCert"`
					} `yaml:"Consenters"`
				} `yaml:"EtcdRaft"`
				Organizations []configtxOrg `yaml:"Organizations"`
			} `yaml:"Orderer"`
			Application struct {
				Organizations []configtxOrg `yaml:"Organizations"`
			} `yaml:"Application"`
		} `yaml:"Profiles"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/fabric/configtx.yaml"), &ctx); err != nil {
		t.Fatalf("configtx.yaml: %v", err)
	}
	prof, ok := ctx.Profiles["TrustIDChannel"]
	if !ok {
		t.Fatal("configtx.yaml: no profile TrustIDChannel (init.sh uses it)")
	}
	if prof.Orderer.OrdererType != "etcdraft" || len(prof.Orderer.EtcdRaft.Consenters) != 1 {
		t.Fatalf("configtx.yaml: orderer %+v: want etcdraft with one consenter", prof.Orderer)
	}
	cons := prof.Orderer.EtcdRaft.Consenters[0]
	if cons.Host != ordererHost || cons.Port != 7050 || cons.ClientTLSCert != ordNode+"/tls/server.crt" || cons.ServerTLSCert != ordNode+"/tls/server.crt" {
		t.Errorf("configtx.yaml: consenter %+v", cons)
	}
	if len(prof.Orderer.Organizations) != 1 || prof.Orderer.Organizations[0].ID != ord.Environment["ORDERER_GENERAL_LOCALMSPID"] ||
		prof.Orderer.Organizations[0].MSPDir != "/fabric/crypto/ordererOrganizations/"+oo.Domain+"/msp" ||
		!slices.Equal(prof.Orderer.Organizations[0].OrdererEndpoints, []string{ordererHost + ":7050"}) {
		t.Errorf("configtx.yaml: orderer organizations %+v", prof.Orderer.Organizations)
	}
	var apps []string
	for _, o := range prof.Application.Organizations {
		apps = append(apps, o.ID)
		region := strings.TrimSuffix(strings.TrimPrefix(o.ID, "Region"), "MSP")
		svc, ok := regions[region]
		if !ok {
			t.Errorf("configtx.yaml: organization %s runs no peer in docker-compose.yml", o.ID)
			continue
		}
		if o.MSPDir != "/fabric/crypto/peerOrganizations/"+peerDomain(region)+"/msp" ||
			len(o.AnchorPeers) != 1 || o.AnchorPeers[0].Host != c.Services[svc].Environment["CORE_PEER_ID"] || o.AnchorPeers[0].Port != 7051 {
			t.Errorf("configtx.yaml: organization %s: %+v", o.ID, o)
		}
	}
	sort.Strings(apps)
	if !slices.Equal(apps, []string{"Region310000MSP", "Region320000MSP", "Region330000MSP"}) {
		t.Errorf("configtx.yaml: application organizations %v", apps)
	}

	// The TrustID nodes' connection profile.
	var ccp struct {
		Client struct {
			Organization string `yaml:"organization"`
		} `yaml:"client"`
		Organizations map[string]struct {
			MSPID      string   `yaml:"mspid"`
			Peers      []string `yaml:"peers"`
			SignedCert struct {
				Path string `yaml:"path"`
			} `yaml:"signedCert"`
			AdminPrivateKey struct {
				Path string `yaml:"path"`
			} `yaml:"adminPrivateKey"`
		} `yaml:"organizations"`
		Peers map[string]struct {
			URL        string `yaml:"url"`
			TLSCACerts struct {
				Path string `yaml:"path"`
			} `yaml:"tlsCACerts"`
		} `yaml:"peers"`
		Channels map[string]any `yaml:"channels"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/trustid/profile-310000.yaml"), &ccp); err != nil {
		t.Fatalf("profile-310000.yaml: %v", err)
	}
	org := ccp.Organizations[ccp.Client.Organization]
	d := peerDomain("310000")
	user := "/fabric/crypto/peerOrganizations/" + d + "/users/User1@" + d + "/msp"
	host := c.Services["peer-310000"].Environment["CORE_PEER_ID"]
	if org.MSPID != "Region310000MSP" || !slices.Equal(org.Peers, []string{host}) ||
		org.SignedCert.Path != user+"/signcerts/User1@"+d+"-cert.pem" || org.AdminPrivateKey.Path != user+"/keystore/priv_sk" {
		t.Errorf("profile-310000.yaml: organization %+v", org)
	}
	if p := ccp.Peers[host]; p.URL != "grpcs://"+host+":7051" || p.TLSCACerts.Path != peerNode("310000")+"/tls/ca.crt" {
		t.Errorf("profile-310000.yaml: peer %+v", p)
	}
	if _, ok := ccp.Channels["trustid"]; !ok || len(ccp.Channels) != 1 {
		t.Errorf("profile-310000.yaml: channels %v, want trustid", ccp.Channels)
	}
	// The node runs as UID 65532: init.sh hands it the client identity.
	if init := string(readFile(t, "deploy/fabric/init.sh")); !strings.Contains(init, `chown -R 65532:65532 "$F/crypto/peerOrganizations/`+d+`/users/User1@`+d+`"`) {
		t.Error("init.sh does not give UID 65532 the client identity the profile names")
	}

	// The scripts parse.
	for _, s := range []string{"init.sh", "setup.sh", "package.sh"} {
		if out, err := exec.Command("bash", "-n", filepath.Join(root, "deploy/fabric", s)).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}

	fabricTools(t)
}

// regionsLine reads a bash array assignment REGIONS=(...) of a script.
var regionsLine = regexp.MustCompile(`(?m)^REGIONS=\(([0-9 ]+)\)`)

// TestComposeRegionsMatchTestNetwork: the Compose network runs the
// regions of the native test network (REGIONS in scripts/fabric/env.sh),
// a peer service each, and deploy/fabric/setup.sh joins, installs on and
// approves for every one of them.
func TestComposeRegionsMatchTestNetwork(t *testing.T) {
	c := loadCompose(t)
	var want []string
	for r := range regions {
		want = append(want, r)
	}
	sort.Strings(want)
	for _, script := range []string{"scripts/fabric/env.sh", "deploy/fabric/setup.sh"} {
		m := regionsLine.FindSubmatch(readFile(t, script))
		if m == nil {
			t.Errorf("%s: no REGIONS=(...) line", script)
			continue
		}
		got := strings.Fields(string(m[1]))
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: REGIONS %v, want the Compose network's %v", script, got, want)
		}
	}
	var peers []string
	for name := range c.Services {
		if strings.HasPrefix(name, "peer-") {
			peers = append(peers, strings.TrimPrefix(name, "peer-"))
		}
	}
	sort.Strings(peers)
	if !slices.Equal(peers, want) {
		t.Errorf("docker-compose.yml runs peers of %v, want %v", peers, want)
	}
}

type configtxOrg struct {
	Name             string   `yaml:"Name"`
	ID               string   `yaml:"ID"`
	MSPDir           string   `yaml:"MSPDir"`
	OrdererEndpoints []string `yaml:"OrdererEndpoints"`
	AnchorPeers      []struct {
		Host string `yaml:"Host"`
		Port int    `yaml:"Port"`
	} `yaml:"AnchorPeers"`
}

// fabricTools runs cryptogen and configtxgen on the committed files when
// scripts/fabric/build.sh has built them (FABRIC_BIN, default
// scripts/fabric/work/bin); the test does not build them itself.
func fabricTools(t *testing.T) {
	bin := os.Getenv("FABRIC_BIN")
	if bin == "" {
		bin = filepath.Join(root, "scripts/fabric/work/bin")
	}
	cryptogen, configtxgen := filepath.Join(bin, "cryptogen"), filepath.Join(bin, "configtxgen")
	for _, p := range []string{cryptogen, configtxgen} {
		if _, err := os.Stat(p); err != nil {
			t.Logf("not run: cryptogen and configtxgen on the committed files (%v; scripts/fabric/build.sh builds them)", err)
			return
		}
	}
	dir := t.TempDir()
	run := func(name string, args ...string) []byte {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
		return out
	}
	run(cryptogen, "generate", "--config="+filepath.Join(root, "deploy/fabric/crypto-config.yaml"), "--output="+filepath.Join(dir, "crypto"))
	// The volume's paths, under the temporary directory.
	cfg := strings.ReplaceAll(string(readFile(t, "deploy/fabric/configtx.yaml")), "/fabric/", dir+"/")
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	block := filepath.Join(dir, "trustid.block")
	run(configtxgen, "-configPath", dir, "-profile", "TrustIDChannel", "-channelID", "trustid", "-outputBlock", block)
	inspected := run(configtxgen, "-inspectBlock", block)
	for _, want := range []string{`"Region310000MSP"`, `"Region320000MSP"`, `"Region330000MSP"`, `"OrdererMSP"`, `"channel_id": "trustid"`} {
		if !bytes.Contains(inspected, []byte(want)) {
			t.Errorf("the genesis block does not name %s", want)
		}
	}
	// The profile's client identity exists where the profile says.
	d := peerDomain("310000")
	for _, p := range []string{"peerOrganizations/" + d + "/users/User1@" + d + "/msp/signcerts/User1@" + d + "-cert.pem",
		"peerOrganizations/" + d + "/users/User1@" + d + "/msp/keystore/priv_sk"} {
		if _, err := os.Stat(filepath.Join(dir, "crypto", p)); err != nil {
			t.Error(err)
		}
	}
	t.Logf("cryptogen and configtxgen from %s accept the committed files", bin)
}

// TestChaincodePackage: the committed CCaaS package is what package.sh
// makes of ccaas/, points the peers at the chaincode service, and its
// package ID is the chaincode service's CHAINCODE_ID.
func TestChaincodePackage(t *testing.T) {
	c := loadCompose(t)
	pkg := readFile(t, "deploy/fabric/trustid_1.tar.gz")
	sum := sha256.Sum256(pkg)
	cc := c.Services["chaincode"]
	label := "trustid_1"
	if want := label + ":" + hex.EncodeToString(sum[:]); cc.Environment["CHAINCODE_ID"] != want {
		t.Errorf("chaincode: CHAINCODE_ID %q, want the package ID %q (deploy/fabric/package.sh prints it)", cc.Environment["CHAINCODE_ID"], want)
	}
	files := untgz(t, pkg)
	var md struct {
		Type  string `json:"type"`
		Label string `json:"label"`
	}
	if err := json.Unmarshal(files["metadata.json"], &md); err != nil || md.Type != "ccaas" || md.Label != label {
		t.Errorf("metadata.json %s: %v", files["metadata.json"], err)
	}
	code := untgz(t, files["code.tar.gz"])
	if len(files) != 2 || len(code) != 1 {
		t.Errorf("package holds %d files and code.tar.gz %d, want metadata.json, code.tar.gz and connection.json", len(files), len(code))
	}
	for name, b := range map[string][]byte{"metadata.json": files["metadata.json"], "connection.json": code["connection.json"]} {
		if !bytes.Equal(b, readFile(t, "deploy/fabric/ccaas/"+name)) {
			t.Errorf("the package's %s differs from deploy/fabric/ccaas/%s: run deploy/fabric/package.sh", name, name)
		}
	}
	var conn struct {
		Address     string `json:"address"`
		TLSRequired bool   `json:"tls_required"`
	}
	if err := json.Unmarshal(code["connection.json"], &conn); err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(cc.Environment["CHAINCODE_SERVER_ADDRESS"])
	if err != nil || conn.Address != "chaincode:"+port {
		t.Errorf("connection.json address %q; the chaincode service listens on %q", conn.Address, cc.Environment["CHAINCODE_SERVER_ADDRESS"])
	}
	// setup installs this file.
	setup := c.Services["setup"]
	if p := hostPath(t, "setup", setup, "/deploy/fabric/trustid_1.tar.gz"); p != filepath.Join(root, "deploy/fabric/trustid_1.tar.gz") ||
		!strings.Contains(string(readFile(t, "deploy/fabric/setup.sh")), "PKG=/deploy/fabric/trustid_1.tar.gz") {
		t.Error("setup does not install the committed package")
	}
}

// untgz returns the regular files of a gzipped tar.
func untgz(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}
