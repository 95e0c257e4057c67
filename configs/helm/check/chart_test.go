package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The names a release called kapok gives its objects.
const (
	kapokName     = "kapok"
	pgbouncerName = "kapok-pgbouncer"
)

// drainFlagRE is the drain timeout the chart passes to kapok serve.
var drainFlagRE = regexp.MustCompile(`^--drain-timeout=(\d+)s$`)

// envRefRE is a ${NAME} in Kapok's config.
var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// checkKapok asserts what every rendering must hold, whatever the values, and returns
// Kapok's container.
func checkKapok(t *testing.T, o objects) corev1.Container {
	t.Helper()
	for _, x := range o.all {
		if m, ok := x.(interface{ GetNamespace() string }); ok && m.GetNamespace() != namespace {
			t.Errorf("%s is in namespace %q, not the release's", nameOf(x), m.GetNamespace())
		}
	}
	d := one[*appsv1.Deployment](t, o, kapokName)
	pod := d.Spec.Template
	if !selects(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, pod.Labels)
	}
	if s := d.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0", s)
	}
	for _, a := range []string{"checksum/config", "checksum/secret"} {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(pod.Annotations[a]) {
			t.Errorf("pod annotation %s = %q, want a sha256", a, pod.Annotations[a])
		}
	}
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want runAsNonRoot and a non-zero runAsUser", ps)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want kapok alone", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	cs := c.SecurityContext
	if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil ||
		*cs.AllowPrivilegeEscalation || cs.Capabilities == nil || len(cs.Capabilities.Drop) != 1 || cs.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v: want a read-only root, no privilege escalation, every capability dropped", cs)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["KAPOK_LISTEN"] != "0.0.0.0:"+strconv.Itoa(int(ports["http"])) || env["KAPOK_WIRE_LISTEN"] != "0.0.0.0:"+strconv.Itoa(int(ports["wire"])) {
		t.Errorf("Kapok listens on %q and %q, its container ports are %v", env["KAPOK_LISTEN"], env["KAPOK_WIRE_LISTEN"], ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe %+v: want GET %s on port http", p.name, p.probe, p.path)
		}
	}
	if !contains(c.Args, "--config=/etc/kapok/kapok.yaml") {
		t.Errorf("args %v lack the config file", c.Args)
	}
	drain := -1
	for _, a := range c.Args {
		if m := drainFlagRE.FindStringSubmatch(a); m != nil {
			drain, _ = strconv.Atoi(m[1])
		}
	}
	preStop := 0
	if l := c.Lifecycle; l != nil && l.PreStop != nil {
		if l.PreStop.Sleep == nil {
			t.Errorf("preStop %+v: want the sleep action (the image has no shell)", l.PreStop)
		} else {
			preStop = int(l.PreStop.Sleep.Seconds)
		}
	}
	if preStop == 0 {
		t.Error("no preStop pause: the pod would stop accepting connections while the endpoints still route to it")
	}
	grace := -1 // unset: Kubernetes' default of 30s, which the chart must not rely on
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = int(*g)
	}
	if drain <= 0 || grace <= preStop+drain {
		t.Errorf("terminationGracePeriodSeconds %d does not outlast the preStop pause (%ds) and the drain (--drain-timeout %ds)", grace, preStop, drain)
	}
	if c.Resources.Requests.Cpu().IsZero() {
		t.Error("no CPU request: the HPA's CPU utilization is a share of it")
	}
	var configMap string
	for _, v := range pod.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			configMap = v.ConfigMap.Name
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "config" && m.MountPath == "/etc/kapok" && m.ReadOnly)
	}
	if cm, ok := find[*corev1.ConfigMap](o)[configMap]; !ok || !mounted || cm.Data["kapok.yaml"] == "" {
		t.Errorf("the config volume (ConfigMap %q, mounted read-only at /etc/kapok: %v) does not hold kapok.yaml", configMap, mounted)
	}

	svc := one[*corev1.Service](t, o, kapokName)
	want := map[string]int32{"http": 8080, "wire": 6543}
	for _, p := range svc.Spec.Ports {
		if want[p.Name] != p.Port || p.TargetPort != intstr.FromString(p.Name) || ports[p.Name] == 0 {
			t.Errorf("Service port %s %d -> %s: want %d to the container's port of that name", p.Name, p.Port, p.TargetPort.String(), want[p.Name])
		}
		delete(want, p.Name)
	}
	if len(want) > 0 {
		t.Errorf("the Service lacks the ports %v", want)
	}
	if !selects(svc.Spec.Selector, pod.Labels) {
		t.Errorf("the Service's selector %v does not select Kapok's pods %v", svc.Spec.Selector, pod.Labels)
	}
	if p, ok := find[*appsv1.Deployment](o)[pgbouncerName]; ok {
		pgb := p.Spec.Template.Labels
		if selects(svc.Spec.Selector, pgb) || selects(d.Spec.Selector.MatchLabels, pgb) {
			t.Error("Kapok's Service or Deployment selects PgBouncer's pods")
		}
	}
	if pdb, ok := find[*policyv1.PodDisruptionBudget](o)[kapokName]; ok {
		if !selects(pdb.Spec.Selector.MatchLabels, pod.Labels) || pdb.Spec.MaxUnavailable == nil {
			t.Errorf("PodDisruptionBudget %+v does not bound Kapok's pods", pdb.Spec)
		}
		if p, ok := find[*appsv1.Deployment](o)[pgbouncerName]; ok && selects(pdb.Spec.Selector.MatchLabels, p.Spec.Template.Labels) {
			t.Error("the PodDisruptionBudget also counts PgBouncer's pods")
		}
	}
	if hpa, ok := find[*autoscalingv2.HorizontalPodAutoscaler](o)[kapokName]; ok {
		ref := hpa.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
			t.Errorf("the HPA scales %+v, not the Deployment %s", ref, d.Name)
		}
		if d.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas although the HPA owns the count: every upgrade would reset it")
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
			t.Errorf("HPA bounds %v..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
	}
	for _, sm := range serviceMonitors(o) {
		checkServiceMonitor(t, sm, svc)
	}
	if ref := envFromSecret(c); ref != "" {
		if _, rendered := find[*corev1.Secret](o)[ref]; !rendered && ref == kapokName {
			t.Errorf("the container reads Secret %s, which the chart does not render", ref)
		}
	}
	return c
}

func checkServiceMonitor(t *testing.T, sm *unstructured.Unstructured, svc *corev1.Service) {
	t.Helper()
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" || sm.GetKind() != "ServiceMonitor" {
		t.Fatalf("an object of an unknown kind: %s %s", sm.GetAPIVersion(), sm.GetKind())
	}
	// The ServiceMonitor's fields this chart may use, as the CRD defines them: anything
	// else would be dropped (or refused) by the API server.
	allowed := map[string][]string{
		"":                       {"apiVersion", "kind", "metadata", "spec"},
		"spec":                   {"selector", "namespaceSelector", "endpoints"},
		"spec.selector":          {"matchLabels"},
		"spec.namespaceSelector": {"matchNames"},
		"spec.endpoints[]":       {"port", "path", "interval", "scrapeTimeout"},
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys, known := allowed[path]
			if !known {
				return
			}
			for k, sub := range x {
				if !contains(keys, k) {
					t.Errorf("ServiceMonitor field %s.%s is not one of %v", path, k, keys)
				}
				walk(strings.TrimPrefix(path+"."+k, "."), sub)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", sm.Object)
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", eps)
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != "http" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v: want /metrics on port http", ep)
	}
	for _, d := range []string{"interval", "scrapeTimeout"} {
		if s, _ := ep[d].(string); s != "" {
			if _, err := time.ParseDuration(s); err != nil {
				t.Errorf("ServiceMonitor %s %q: %v", d, s, err)
			}
		}
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if !selects(sel, svc.Labels) {
		t.Errorf("the ServiceMonitor's selector %v does not select the Service %v", sel, svc.Labels)
	}
	ns, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if !contains(ns, svc.Namespace) {
		t.Errorf("the ServiceMonitor looks in %v, the Service is in %s", ns, svc.Namespace)
	}
}

func envFromSecret(c corev1.Container) string {
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil {
			return e.SecretRef.Name
		}
	}
	return ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestTheDefaultValuesRender(t *testing.T) {
	o := render(t, nil)
	c := checkKapok(t, o)
	d := one[*appsv1.Deployment](t, o, kapokName)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	if n := len(find[*autoscalingv2.HorizontalPodAutoscaler](o)) + len(serviceMonitors(o)) + len(find[*corev1.Secret](o)); n != 0 {
		t.Errorf("the defaults rendered an HPA, a ServiceMonitor or a Secret: %v", names(o))
	}
	if _, ok := find[*appsv1.Deployment](o)[pgbouncerName]; ok {
		t.Error("PgBouncer is rendered although pgbouncer.enabled is false")
	}
	if len(c.EnvFrom) != 0 {
		t.Errorf("envFrom %v without a Secret", c.EnvFrom)
	}
	one[*policyv1.PodDisruptionBudget](t, o, kapokName)
	one[*corev1.ServiceAccount](t, o, kapokName)
	if !strings.Contains(o.notes, "port-forward svc/kapok") || !strings.Contains(o.notes, "No Secret is given") {
		t.Errorf("NOTES:\n%s", o.notes)
	}
}

func TestTheProductionValuesRender(t *testing.T) {
	o := render(t, valuesFile(t, filepath.Join(chartDir, "values-production.yaml")))
	c := checkKapok(t, o)
	hpa := one[*autoscalingv2.HorizontalPodAutoscaler](t, o, kapokName)
	if *hpa.Spec.MinReplicas != 3 {
		t.Errorf("HPA minReplicas %d, want 3", *hpa.Spec.MinReplicas)
	}
	var cpu, rate bool
	for _, m := range hpa.Spec.Metrics {
		switch {
		case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource.Name == corev1.ResourceCPU:
			cpu = m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
		case m.Type == autoscalingv2.PodsMetricSourceType:
			rate = m.Pods.Metric.Name == "kapok_http_requests_per_second" && m.Pods.Target.Type == autoscalingv2.AverageValueMetricType &&
				m.Pods.Target.AverageValue != nil && m.Pods.Target.AverageValue.Value() == 800
		}
	}
	if !cpu || !rate {
		t.Errorf("HPA metrics %+v: want CPU utilization and kapok_http_requests_per_second at 800 per pod", hpa.Spec.Metrics)
	}
	if hpa.Spec.Behavior == nil || hpa.Spec.Behavior.ScaleDown == nil || *hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 300 {
		t.Errorf("HPA behavior %+v", hpa.Spec.Behavior)
	}
	if len(serviceMonitors(o)) != 1 {
		t.Errorf("%d ServiceMonitors, want 1", len(serviceMonitors(o)))
	}
	if got := envFromSecret(c); got != "kapok-env" {
		t.Errorf("Kapok reads Secret %q, want the existing kapok-env", got)
	}
	if _, ok := find[*corev1.Secret](o)[kapokName]; ok {
		t.Error("the chart wrote a Secret of its own beside existingSecret")
	}

	pgb := one[*appsv1.Deployment](t, o, pgbouncerName)
	pgbSvc := one[*corev1.Service](t, o, pgbouncerName)
	if !selects(pgbSvc.Spec.Selector, pgb.Spec.Template.Labels) || pgbSvc.Spec.Ports[0].Port != 6432 {
		t.Errorf("PgBouncer's Service %+v does not reach its pods on 6432", pgbSvc.Spec)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["KAPOK_PGBOUNCER"] != pgbouncerName+":6432" {
		t.Errorf("KAPOK_PGBOUNCER = %q, want the PgBouncer Service's host:port", env["KAPOK_PGBOUNCER"])
	}
	ini := one[*corev1.ConfigMap](t, o, pgbouncerName).Data["pgbouncer.ini"]
	for _, want := range []string{"* = host=db.example.internal port=5432", "pool_mode = transaction", "auth_file = /etc/pgbouncer/auth/userlist.txt", "server_tls_sslmode = require"} {
		if !strings.Contains(ini, want) {
			t.Errorf("pgbouncer.ini lacks %q:\n%s", want, ini)
		}
	}
	pc := pgb.Spec.Template.Spec
	if s := pc.SecurityContext; s == nil || s.RunAsUser == nil || *s.RunAsUser == 0 || !*s.RunAsNonRoot {
		t.Errorf("PgBouncer's pod security context %+v", s)
	}
	var authSecret string
	for _, v := range pc.Volumes {
		if v.Secret != nil {
			authSecret = v.Secret.SecretName
		}
	}
	if authSecret != "kapok-pgbouncer-auth" {
		t.Errorf("PgBouncer reads its userlist from %q, want the existing kapok-pgbouncer-auth", authSecret)
	}
	if !strings.Contains(o.notes, "kapok_http_requests_per_second") || !strings.Contains(o.notes, "KAPOK_PGBOUNCER") {
		t.Errorf("NOTES:\n%s", o.notes)
	}
}

// kapokBinary is the kapok binary: KAPOK_BIN (make test-helm passes bin/kapok), else one
// built from the repository for this test.
func kapokBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("KAPOK_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "kapok")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kapok")
	cmd.Dir = repoFile()
	// Kapok's own module, with its own go.sum: none of this module's settings.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kapok: %v\n%s", err, out)
	}
	return bin
}

// deploy runs `kapok deploy` on the repository's configs/kapok.yaml and returns the values
// it wrote.
func deploy(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := filepath.Join(t.TempDir(), "values.yaml")
	cmd := exec.Command(kapokBinary(t), append([]string{"deploy", "--config", "configs/kapok.yaml", "--out", out}, args...)...)
	cmd.Dir = repoFile()
	cmd.Env = append(os.Environ(), "KAPOK_ADMIN_KEY=deploy-check-admin-key")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kapok deploy: %v\n%s", err, b)
	}
	return valuesFile(t, out)
}

func TestTheValuesKapokDeployWritesRender(t *testing.T) {
	t.Run("secrets referenced: an existing Secret holds them", func(t *testing.T) {
		vals := deploy(t, "--release", releaseName, "--namespace", namespace, "--replicas", "3")
		o := render(t, vals)
		c := checkKapok(t, o)
		d := one[*appsv1.Deployment](t, o, kapokName)
		if *d.Spec.Replicas != 3 {
			t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
		}
		if ref := envFromSecret(c); ref == "" || ref == kapokName {
			t.Errorf("Kapok reads Secret %q, want the existing Secret kapok deploy names", ref)
		}
		if len(find[*corev1.Secret](o)) != 0 {
			t.Error("a Secret was rendered without --include-secrets")
		}
		config := one[*corev1.ConfigMap](t, o, kapokName).Data["kapok.yaml"]
		if !strings.Contains(config, "tenants:") || strings.Contains(config, "dev-only-notes-secret") || strings.Contains(config, "deploy-check-admin-key") {
			t.Errorf("the ConfigMap's config holds a secret, or no tenants:\n%s", config)
		}
	})
	t.Run("--include-secrets: the chart's Secret holds every variable the config names", func(t *testing.T) {
		o := render(t, deploy(t, "--include-secrets"))
		c := checkKapok(t, o)
		secret := one[*corev1.Secret](t, o, kapokName)
		if envFromSecret(c) != secret.Name {
			t.Errorf("Kapok reads Secret %q, the chart wrote %q", envFromSecret(c), secret.Name)
		}
		config := one[*corev1.ConfigMap](t, o, kapokName).Data["kapok.yaml"]
		refs := configRefs(t, config)
		if len(refs) == 0 {
			t.Fatalf("the config names no environment variable:\n%s", config)
		}
		for _, name := range refs {
			if _, ok := secret.StringData[name]; !ok {
				t.Errorf("the config names ${%s}, which the Secret lacks (it holds %v)", name, keys(secret.StringData))
			}
		}
		if secret.StringData["KAPOK_ADMIN_KEY"] != "deploy-check-admin-key" {
			t.Errorf("KAPOK_ADMIN_KEY = %q", secret.StringData["KAPOK_ADMIN_KEY"])
		}
	})
}

// configRefs lists the ${NAME}s in the values (and keys) of a Kapok config, where Kapok
// reads them; a comment may name one without effect.
func configRefs(t *testing.T, config string) []string {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatalf("the config is not YAML: %v", err)
	}
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, m := range envRefRE.FindAllStringSubmatch(x, -1) {
				refs = append(refs, m[1])
			}
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return refs
}

func keys(m map[string]string) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}

func TestAChangedConfigRollsThePods(t *testing.T) {
	checksum := func(vals map[string]any) string {
		return one[*appsv1.Deployment](t, render(t, vals), kapokName).Spec.Template.Annotations["checksum/config"]
	}
	a := checksum(nil)
	b := checksum(map[string]any{"config": "default_tenant: other\n"})
	if a == b {
		t.Error("the pod template is the same for two configs: a config change would not restart Kapok")
	}
	if a != checksum(nil) {
		t.Error("the checksum changes between two renderings of the same values")
	}
}

func TestTheChartRefusesMistakes(t *testing.T) {
	for _, tt := range []struct {
		name string
		vals map[string]any
		kube string
		want string
	}{
		{"a misspelt key", map[string]any{"replica": 3}, kubeVersion, "replica"},
		{"a drain timeout that is not a number of seconds", map[string]any{"drain": map[string]any{"timeoutSeconds": "30s"}}, kubeVersion, "timeoutSeconds"},
		{"a Secret key that is not an environment variable name", map[string]any{"secrets": map[string]any{"env": map[string]any{"admin-key": "x"}}}, kubeVersion, "admin-key"},
		{"PgBouncer without its users", map[string]any{"pgbouncer": map[string]any{"enabled": true, "database": map[string]any{"host": "db"}}}, kubeVersion, "pgbouncer.userlist"},
		{"PgBouncer without a database", map[string]any{"pgbouncer": map[string]any{"enabled": true, "userlist": `"kapok" "x"`}}, kubeVersion, "pgbouncer.database.host"},
		{"a cluster without the preStop sleep action", nil, "v1.29.0", "kubeVersion"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := install(t, tt.vals, tt.kube)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}
