// Package check renders Kapok's Helm chart (configs/helm/kapok) with Helm's own library and
// decodes every object it renders strictly into the Kubernetes API types, for the chart's
// default values, for values-production.yaml and for what `kapok deploy` writes; it also
// checks the Dockerfile, which no test can build where no container engine runs.
//
// It is a module of its own so that Helm and the Kubernetes client libraries stay out of
// Kapok's dependencies: `make test-helm` (part of `make test`) runs it.
package check
