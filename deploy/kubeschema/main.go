// Command kubeschema writes strict JSON schemas of the built-in Kubernetes
// kinds that deploy/kubernetes uses, generated from the Go types of
// k8s.io/api, in the file layout kubeconform reads with
//
//	kubeconform -strict -schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'
//
// deploy/check.sh uses it when kubeconform's default schema location (on
// GitHub) cannot be reached. Every object is closed (additionalProperties:
// false), so an unknown or misspelt field is an error; a field whose JSON tag
// has no omitempty is required, as Kubernetes' own OpenAPI generator has it.
// It is a module of its own so that linger's module does not depend on
// k8s.io/api.
//
// Usage: go run . OUTDIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kinds are the built-in kinds to write schemas for.
var kinds = []struct {
	obj        any
	apiVersion string
}{
	{&corev1.Namespace{}, "v1"},
	{&corev1.ConfigMap{}, "v1"},
	{&corev1.Secret{}, "v1"},
	{&corev1.Service{}, "v1"},
	{&corev1.ServiceAccount{}, "v1"},
	{&appsv1.Deployment{}, "apps/v1"},
	{&appsv1.StatefulSet{}, "apps/v1"},
	{&policyv1.PodDisruptionBudget{}, "policy/v1"},
}

type schema = map[string]any

// special are types whose JSON form is not their Go structure.
var special = map[reflect.Type]schema{
	reflect.TypeFor[resource.Quantity]():     {"anyOf": []schema{{"type": "string"}, {"type": "number"}}},
	reflect.TypeFor[intstr.IntOrString]():    {"anyOf": []schema{{"type": "string"}, {"type": "integer"}}},
	reflect.TypeFor[metav1.Time]():           {"type": []string{"string", "null"}},
	reflect.TypeFor[metav1.MicroTime]():      {"type": []string{"string", "null"}},
	reflect.TypeFor[metav1.Duration]():       {"type": "string"},
	reflect.TypeFor[runtime.RawExtension]():  {},
	reflect.TypeFor[metav1.FieldsV1]():       {},
	reflect.TypeFor[json.RawMessage]():       {},
	reflect.TypeFor[corev1.ResourceName]():   {"type": "string"},
	reflect.TypeFor[metav1.LabelSelector]():  nil, // a plain struct: listed so the marshaler test below skips it
	reflect.TypeFor[metav1.ObjectMeta]():     nil,
	reflect.TypeFor[metav1.TypeMeta]():       nil,
	reflect.TypeFor[metav1.OwnerReference](): nil,
}

var marshaler = reflect.TypeFor[json.Marshaler]()

// generator turns Go types into JSON schema, struct types as definitions.
type generator struct {
	defs map[string]schema
}

func defName(t reflect.Type) string {
	return strings.NewReplacer("/", ".", "*", "").Replace(t.PkgPath()) + "." + t.Name()
}

func (g *generator) schemaOf(t reflect.Type) schema {
	if s, ok := special[t]; ok && s != nil {
		return s
	}
	if _, listed := special[t]; !listed && t.Kind() != reflect.Pointer &&
		(t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler)) {
		return schema{} // a custom JSON form this generator does not know: anything
	}
	switch t.Kind() {
	case reflect.String:
		return schema{"type": "string"}
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return schema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return schema{"type": "number"}
	case reflect.Pointer:
		return g.schemaOf(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return schema{"type": "string"} // []byte: base64
		}
		return schema{"type": []string{"array", "null"}, "items": g.schemaOf(t.Elem())}
	case reflect.Map:
		return schema{"type": []string{"object", "null"}, "additionalProperties": g.schemaOf(t.Elem())}
	case reflect.Interface:
		return schema{}
	case reflect.Struct:
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // a placeholder against recursion
			props, required := schema{}, []string{}
			g.fields(t, props, &required)
			s := schema{"type": "object", "properties": props, "additionalProperties": false}
			if len(required) > 0 {
				s["required"] = required
			}
			g.defs[name] = s
		}
		return schema{"$ref": "#/definitions/" + name}
	}
	panic(fmt.Sprintf("kubeschema: no schema for %v (%v)", t, t.Kind()))
}

// fields adds the JSON fields of struct t, embedded and inline ones merged.
func (g *generator) fields(t reflect.Type, props schema, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schemaOf(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

// kindSuffix is kubeconform's {{ .KindSuffix }}: -group-version or -version.
func kindSuffix(apiVersion string) string {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return "-" + strings.ToLower(apiVersion)
	}
	return "-" + strings.ToLower(strings.Split(group, ".")[0]) + "-" + strings.ToLower(version)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubeschema OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, k := range kinds {
		t := reflect.TypeOf(k.obj).Elem()
		g := &generator{defs: map[string]schema{}}
		root := g.defs[strings.TrimPrefix(g.schemaOf(t)["$ref"].(string), "#/definitions/")]
		props := root["properties"].(schema)
		props["apiVersion"] = schema{"type": "string", "enum": []string{k.apiVersion}}
		props["kind"] = schema{"type": "string", "enum": []string{t.Name()}}
		root["required"] = []string{"apiVersion", "kind", "metadata"}
		out := schema{"$schema": "http://json-schema.org/draft-04/schema#", "definitions": g.defs}
		for key, v := range root {
			out[key] = v
		}
		b, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			panic(err)
		}
		file := filepath.Join(dir, strings.ToLower(t.Name())+kindSuffix(k.apiVersion)+".json")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("kubeschema: %d schemas from k8s.io/api in %s\n", len(kinds), dir)
}
