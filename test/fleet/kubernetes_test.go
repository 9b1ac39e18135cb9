package fleet

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// The parts of the Kubernetes objects the tests look at; decoding ignores
// every other field.
type (
	object struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   objectMeta        `yaml:"metadata"`
		Data       map[string]string `yaml:"data"` // ConfigMap
		Spec       daemonSetSpec     `yaml:"spec"` // DaemonSet
	}
	objectMeta struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	daemonSetSpec struct {
		UpdateStrategy struct {
			Type string `yaml:"type"`
		} `yaml:"updateStrategy"`
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		HostNetwork bool         `yaml:"hostNetwork"`
		Tolerations []toleration `yaml:"tolerations"`
		Containers  []container  `yaml:"containers"`
		Volumes     []volume     `yaml:"volumes"`
	}
	toleration struct {
		Key      string `yaml:"key"`
		Operator string `yaml:"operator"`
		Effect   string `yaml:"effect"`
	}
	container struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		Command         []string `yaml:"command"`
		Args            []string `yaml:"args"`
		SecurityContext struct {
			Privileged               *bool `yaml:"privileged"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Add  []string `yaml:"add"`
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []volumeMount `yaml:"volumeMounts"`
	}
	probe struct {
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		HostPath *struct {
			Path string `yaml:"path"`
			Type string `yaml:"type"`
		} `yaml:"hostPath"`
	}
)

// kubernetesDir holds the example manifests.
func kubernetesDir() string {
	return filepath.Join(repoRoot, "examples", "kubernetes")
}

// loadManifests decodes every document of every YAML file of the example,
// by kind; there must be exactly one object of each kind.
func loadManifests(t *testing.T) map[string]object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubernetesDir(), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", kubernetesDir(), err)
	}
	objects := make(map[string]object)
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		for {
			var obj object
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
				t.Fatalf("%s: a document without apiVersion, kind or metadata.name: %+v", file, obj)
			}
			if _, dup := objects[obj.Kind]; dup {
				t.Fatalf("%s: a second %s", file, obj.Kind)
			}
			objects[obj.Kind] = obj
		}
	}
	for _, kind := range []string{"Namespace", "ConfigMap", "DaemonSet"} {
		if _, ok := objects[kind]; !ok {
			t.Fatalf("no %s in %s", kind, kubernetesDir())
		}
	}
	return objects
}

// flagValue returns the value of a command-line flag (-name V, --name V,
// -name=V or --name=V) in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// within reports whether path lies inside the directory dir.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// TestKubernetesManifests checks what the DaemonSet must be to work and to
// be safe: on the host network with no capability but NET_ADMIN, the
// config from the ConfigMap mounted as a directory (so that updates
// arrive), the state on the node's /run, probes that ask the daemon, and a
// place on every node.
func TestKubernetesManifests(t *testing.T) {
	objects := loadManifests(t)
	ns, cm, ds := objects["Namespace"], objects["ConfigMap"], objects["DaemonSet"]

	if ds.APIVersion != "apps/v1" {
		t.Errorf("DaemonSet apiVersion %q, want apps/v1", ds.APIVersion)
	}
	if got := []string{cm.Metadata.Namespace, ds.Metadata.Namespace}; !slices.Equal(got, []string{ns.Metadata.Name, ns.Metadata.Name}) {
		t.Errorf("ConfigMap and DaemonSet are in namespaces %q, want both in %q", got, ns.Metadata.Name)
	}
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace's pod-security enforce level %q: host network, NET_ADMIN and hostPath need privileged", got)
	}
	if got := ds.Spec.UpdateStrategy.Type; got != "RollingUpdate" {
		t.Errorf("updateStrategy.type %q, want RollingUpdate", got)
	}

	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("the pod is not on the host network: it would manage its own namespace, not the node's")
	}
	if !slices.Contains(pod.Tolerations, toleration{Operator: "Exists"}) {
		t.Errorf("tolerations %+v do not tolerate every taint (operator: Exists without key or effect)", pod.Tolerations)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image == "" {
		t.Error("the container has no image")
	}

	sc := c.SecurityContext
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if diff := cmp.Diff([]string{"NET_ADMIN"}, sc.Capabilities.Add); diff != "" {
		t.Errorf("capabilities added (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ALL"}, sc.Capabilities.Drop); diff != "" {
		t.Errorf("capabilities dropped (-want +got):\n%s", diff)
	}

	// The command line: the program's own defaults, or what args say.
	if len(c.Command) != 0 {
		t.Errorf("command %q overrides the image's entrypoint; give args only", c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("args %q do not start the daemon (run)", c.Args)
	}
	configPath, ok := flagValue(c.Args, "c")
	if !ok {
		t.Fatalf("args %q name no config file (-c)", c.Args)
	}
	stateDir, ok := flagValue(c.Args, "state-dir")
	if !ok {
		t.Fatalf("args %q name no state directory (--state-dir)", c.Args)
	}

	volumes := make(map[string]volume)
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var configMount, stateMount *volumeMount
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Metadata.Name {
				t.Errorf("volume %s is ConfigMap %q, want %q", v.Name, v.ConfigMap.Name, cm.Metadata.Name)
			}
			if m.SubPath != "" {
				t.Errorf("ConfigMap volume %s is mounted with subPath %q: a subPath mount never sees updates", m.Name, m.SubPath)
			}
			if !m.ReadOnly {
				t.Errorf("ConfigMap volume %s is not mounted read-only", m.Name)
			}
			configMount = &m
		case v.HostPath != nil:
			if v.HostPath.Path != "/run/mptcpd" {
				t.Errorf("hostPath volume %s is %q, want the node's /run/mptcpd", v.Name, v.HostPath.Path)
			}
			stateMount = &m
		}
	}
	if configMount == nil {
		t.Fatal("no ConfigMap volume is mounted")
	}
	if stateMount == nil {
		t.Fatal("no hostPath volume is mounted for the state")
	}
	if !within(configPath, configMount.MountPath) {
		t.Errorf("config file %s is not inside the ConfigMap's mount %s", configPath, configMount.MountPath)
	}
	if key := filepath.Base(configPath); filepath.Dir(configPath) != filepath.Clean(configMount.MountPath) || cm.Data[key] == "" {
		t.Errorf("config file %s is not a key of ConfigMap %s mounted at %s", configPath, cm.Metadata.Name, configMount.MountPath)
	}
	if filepath.Clean(stateDir) != filepath.Clean(stateMount.MountPath) {
		t.Errorf("--state-dir %s is not the hostPath mount %s", stateDir, stateMount.MountPath)
	}

	// Both probes ask the daemon through its control socket in the state
	// directory, with the program the image holds.
	entrypoint := dockerfileEntrypoint(t)
	for name, p := range map[string]*probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.Exec == nil || len(p.Exec.Command) < 2 {
			t.Errorf("%s is not an exec probe: %+v", name, p)
			continue
		}
		cmd := p.Exec.Command
		if cmd[0] != entrypoint || cmd[1] != "status" {
			t.Errorf("%s runs %q, want %s status", name, cmd, entrypoint)
		}
		if dir, ok := flagValue(cmd, "state-dir"); ok && filepath.Clean(dir) != filepath.Clean(stateDir) {
			t.Errorf("%s asks the daemon of state directory %s, want %s", name, dir, stateDir)
		} else if !ok && filepath.Clean(stateDir) != "/run/mptcpd" {
			t.Errorf("%s uses the default state directory, the daemon %s", name, stateDir)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
}

// dockerfileEntrypoint returns the program the example image starts.
func dockerfileEntrypoint(t *testing.T) string {
	t.Helper()
	data := readFile(t, filepath.Join(kubernetesDir(), "Dockerfile"))
	for l := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "ENTRYPOINT "); ok {
			var exec []string
			if err := yaml.Unmarshal([]byte(rest), &exec); err != nil || len(exec) == 0 {
				t.Fatalf("Dockerfile: ENTRYPOINT %s is not an exec-form list (%v)", rest, err)
			}
			return exec[0]
		}
	}
	t.Fatal("Dockerfile: no ENTRYPOINT")
	return ""
}

// TestKubernetesConfigMapIsValid runs mptcpd check on every file the
// ConfigMap carries.
func TestKubernetesConfigMapIsValid(t *testing.T) {
	cm := loadManifests(t)["ConfigMap"]
	if len(cm.Data) == 0 {
		t.Fatal("the ConfigMap carries no file")
	}
	dir := t.TempDir()
	for key, content := range cm.Data {
		path := filepath.Join(dir, key)
		writeFile(t, path, []byte(content))
		if res := checkConfig(t, path); res.ExitCode != 0 {
			t.Errorf("ConfigMap key %s does not pass mptcpd check:\n%s", key, res.Output)
		}
	}
}

// configMapVolume lays out a directory the way the kubelet does for a
// ConfigMap volume and updates it the way the kubelet's AtomicWriter does:
//
//	dir/..2026_12_04_10_00_00.123456789/mptcpd.yaml   the payload
//	dir/..data -> ..2026_12_04_10_00_00.123456789     swapped by rename
//	dir/mptcpd.yaml -> ..data/mptcpd.yaml             made once
type configMapVolume struct {
	dir string
}

// write publishes a new payload: a new timestamped directory, a ..data_tmp
// symlink to it renamed over ..data, the user-visible symlinks, and the
// old timestamped directory removed.
func (v configMapVolume) write(t *testing.T, payload map[string]string) {
	t.Helper()
	dataLink := filepath.Join(v.dir, "..data")
	old, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	tsDir, err := os.MkdirTemp(v.dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range payload {
		writeFile(t, filepath.Join(tsDir, name), []byte(content))
	}
	tmpLink := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		t.Fatal(err)
	}
	for name := range payload {
		err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name))
		if err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKubernetesConfigMapSwap runs the daemon on a file in a ConfigMap-style
// volume and checks the kernel follows each update, and that a version the
// daemon rejects leaves the kernel on the last good one.
func TestKubernetesConfigMapSwap(t *testing.T) {
	t.Parallel()
	ns := newFleetNS(t)
	vol := configMapVolume{dir: t.TempDir()}
	const key = "mptcpd.yaml"
	configPath := filepath.Join(vol.dir, key)

	versions := []struct {
		name   string
		config string
		want   kernelState
	}{{
		name: "first",
		config: `limits: {subflows: 2, add_addr_accepted: 1}
endpoints:
  - {address: 192.0.2.1, dev: fleet0, id: 1, flags: [subflow]}
`,
		want: kernelState{
			Endpoints: []string{"192.0.2.1 id 1 subflow dev fleet0"},
			Limits:    "add_addr_accepted 1 subflows 2",
		},
	}, {
		name: "second",
		config: `limits: {subflows: 4, add_addr_accepted: 2}
endpoints:
  - {address: 192.0.2.1, dev: fleet0, id: 1, flags: [subflow, backup]}
  - {address: 198.51.100.1, dev: fleet1, id: 2, flags: [signal]}
`,
		want: kernelState{
			Endpoints: []string{"192.0.2.1 id 1 subflow backup dev fleet0", "198.51.100.1 id 2 signal dev fleet1"},
			Limits:    "add_addr_accepted 2 subflows 4",
		},
	}, {
		name: "third",
		config: `limits: {subflows: 1, add_addr_accepted: 0}
endpoints:
  - {address: 198.51.100.1, dev: fleet1, id: 7, flags: [subflow]}
`,
		want: kernelState{
			Endpoints: []string{"198.51.100.1 id 7 subflow dev fleet1"},
			Limits:    "add_addr_accepted 0 subflows 1",
		},
	}}

	vol.write(t, map[string]string{key: versions[0].config})
	// Only the file watch may notice the swaps: the periodic look at the
	// kernel must not come round during the test.
	d := startDaemon(t, ns, configPath, "--resync-interval", "1h")
	for _, v := range versions {
		vol.write(t, map[string]string{key: v.config})
		waitKernel(t, ns, v.want, "the kernel follows the "+v.name+" version of the ConfigMap")
	}

	// A version the daemon rejects: reload (which waits for the daemon to
	// have read it) reports it, and the kernel stays on the last good one.
	last := versions[len(versions)-1].want
	vol.write(t, map[string]string{key: "limits: {subflows: 9}\n"})
	res := runTool(t, "", nil, mptcpdBin, d.reloadArgs()...)
	if res.ExitCode != 1 || !strings.Contains(res.Output, "subflows must be an integer 0..8") {
		t.Errorf("reload after a bad version: exit %d, want 1 and the reason:\n%s", res.ExitCode, res.Output)
	}
	if diff := cmp.Diff(last, readKernel(t, ns)); diff != "" {
		t.Errorf("a rejected version changed the kernel (-want +got):\n%s", diff)
	}
	vol.write(t, map[string]string{key: versions[0].config})
	waitKernel(t, ns, versions[0].want, "the kernel follows a good version after a rejected one")
}
