package check

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test.
const chartDir = "../kapok"

// kubeVersion is the cluster version the chart is rendered for: the one of the k8s.io/api
// types the objects are decoded into.
const kubeVersion = "v1.37.0"

const (
	releaseName = "kapok"
	namespace   = "apps"
)

// decoder decodes the built-in kinds the chart renders, strictly: an unknown or duplicated
// field, or a field name in the wrong case, is an error, as the API server's strict field
// validation would make it.
var decoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// objects is one rendering of the chart, decoded.
type objects struct {
	all   []runtime.Object
	notes string
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	return ch
}

// rendering is the chart rendered for one set of values: its manifests, and its notes.
type rendering struct {
	manifests []string
	notes     string
}

// install renders the chart as `helm install --dry-run=client` does, through the same steps
// of Helm's library: the chart's kubeVersion checked against the cluster version kube, the
// values merged with the chart's and checked against values.schema.json, the templates
// rendered by Helm's engine. (The install action itself would also build Kubernetes and
// registry clients, and double the packages a first run compiles.)
func install(t *testing.T, vals map[string]any, kube string) (*rendering, error) {
	t.Helper()
	ch := loadChart(t)
	caps := chartcommon.DefaultCapabilities.Copy()
	kv, err := chartcommon.ParseKubeVersion(kube)
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c, caps.KubeVersion.Version)
	}
	opts := chartcommon.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	values, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, values)
	if err != nil {
		return nil, err
	}
	r := &rendering{notes: files[ch.Name()+"/templates/NOTES.txt"]}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, ".yaml") {
			docs := releaseutil.SplitManifests(files[name])
			for _, k := range slices.Sorted(maps.Keys(docs)) {
				r.manifests = append(r.manifests, docs[k])
			}
		}
	}
	return r, nil
}

// render renders the chart with vals and decodes every object it holds.
func render(t *testing.T, vals map[string]any) objects {
	t.Helper()
	r, err := install(t, vals, kubeVersion)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	out := objects{notes: r.notes}
	for _, doc := range r.manifests {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		out.all = append(out.all, decode(t, doc))
	}
	if len(out.all) == 0 {
		t.Fatal("the chart rendered no object")
	}
	return out
}

// decode turns one rendered document into its typed object, or into an unstructured one
// for the kinds outside the built-in API (ServiceMonitor), whose fields are checked apart.
func decode(t *testing.T, doc string) runtime.Object {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		t.Fatalf("a rendered document is not YAML without duplicate keys: %v\n%s", err, doc)
	}
	obj, gvk, err := decoder.Decode(js, nil, nil)
	if err == nil {
		return obj
	}
	if !runtime.IsNotRegisteredError(err) {
		t.Fatalf("%s does not decode strictly: %v\n%s", gvkOf(js), err, doc)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("%v: %v", gvk, err)
	}
	return u
}

func gvkOf(js []byte) string {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return "an object"
	}
	return u.GroupVersionKind().String() + " " + u.GetName()
}

// valuesFile reads a values file as helm -f does.
func valuesFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := chartcommon.ReadValues(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// find returns the objects of type T, by name.
func find[T runtime.Object](o objects) map[string]T {
	m := map[string]T{}
	for _, x := range o.all {
		if v, ok := x.(T); ok {
			m[nameOf(x)] = v
		}
	}
	return m
}

func nameOf(o runtime.Object) string {
	if u, ok := o.(interface{ GetName() string }); ok {
		return u.GetName()
	}
	return fmt.Sprintf("%T", o)
}

func one[T runtime.Object](t *testing.T, o objects, name string) T {
	t.Helper()
	v, ok := find[T](o)[name]
	if !ok {
		var zero T
		t.Fatalf("no %T named %q among %v", zero, name, names(o))
	}
	return v
}

func names(o objects) []string {
	var s []string
	for _, x := range o.all {
		s = append(s, fmt.Sprintf("%T %s", x, nameOf(x)))
	}
	return s
}

func serviceMonitors(o objects) []*unstructured.Unstructured {
	var s []*unstructured.Unstructured
	for _, x := range o.all {
		if u, ok := x.(*unstructured.Unstructured); ok {
			s = append(s, u)
		}
	}
	return s
}

func repoFile(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", ".."}, parts...)...)
}

// selects reports whether a label selector (matchLabels) selects a pod with these labels.
func selects(sel map[string]string, pod map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod))
}
