package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// topicSpec is a topic of schemas/topics.go, read from its source (deploy
// imports nothing of ours).
type topicSpec struct {
	name                     string
	compacted, coPartitioned bool
}

// schemaTopics parses schemas/topics.go: the Topics list and the constants
// it names.
func schemaTopics(t *testing.T) []topicSpec {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../schemas/topics.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	var topics []topicSpec
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if i < len(n.Values) {
					if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[id.Name], _ = strconv.Unquote(lit.Value)
					}
				}
				if id.Name != "Topics" || i >= len(n.Values) {
					continue
				}
				cl, ok := n.Values[i].(*ast.CompositeLit)
				if !ok {
					continue
				}
				for _, el := range cl.Elts {
					var ts topicSpec
					for _, kv := range el.(*ast.CompositeLit).Elts {
						kv := kv.(*ast.KeyValueExpr)
						key := kv.Key.(*ast.Ident).Name
						switch v := kv.Value.(type) {
						case *ast.Ident:
							switch {
							case key == "Name":
								ts.name = v.Name // a constant: resolved below
							case key == "Compacted":
								ts.compacted = v.Name == "true"
							case key == "CoPartitioned":
								ts.coPartitioned = v.Name == "true"
							}
						case *ast.BasicLit:
							if key == "Name" {
								ts.name, _ = strconv.Unquote(v.Value)
							}
						}
					}
					topics = append(topics, ts)
				}
			}
		}
		return true
	})
	for i := range topics {
		if v, ok := consts[topics[i].name]; ok {
			topics[i].name = v
		}
	}
	if len(topics) < 7 {
		t.Fatalf("schemas/topics.go: found %d topics, want 7 or more: %+v", len(topics), topics)
	}
	return topics
}

func TestCompose(t *testing.T) {
	docs := yamlDocs(t, "compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents", len(docs))
	}
	services := obj(docs[0], "services")
	for _, name := range []string{"kafka", "topic-init", "linger-1", "linger-2", "linger-3", "prometheus", "grafana", "bench"} {
		if services[name] == nil {
			t.Errorf("compose.yaml: no service %q", name)
		}
	}

	// Kafka: the official image, KRaft, reachable as kafka:9092.
	kafka := services["kafka"]
	if !strings.HasPrefix(str(kafka, "image"), "apache/kafka:") {
		t.Errorf("kafka: image %q, want apache/kafka", str(kafka, "image"))
	}
	if roles := str(kafka, "environment", "KAFKA_PROCESS_ROLES"); !strings.Contains(roles, "controller") || !strings.Contains(roles, "broker") {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES %q, want broker and controller (KRaft)", roles)
	}
	if adv := str(kafka, "environment", "KAFKA_ADVERTISED_LISTENERS"); !strings.Contains(adv, "://kafka:9092") {
		t.Errorf("kafka: advertised listeners %q do not include kafka:9092", adv)
	}
	if get(kafka, "healthcheck", "test") == nil {
		t.Error("kafka: no healthcheck (topic-init waits for it)")
	}

	// topic-init: every topic, compaction, one partition count for the
	// co-partitioned ones.
	init := services["topic-init"]
	if str(init, "depends_on", "kafka", "condition") != "service_healthy" {
		t.Error("topic-init: should wait for kafka to be healthy")
	}
	script := ""
	for _, c := range list(init, "command") {
		s, _ := c.(string)
		script += s
	}
	created := runTopicInit(t, script, obj(init, "environment"))
	coPartitions := ""
	for _, tp := range schemaTopics(t) {
		c, ok := created[tp.name]
		if !ok {
			t.Errorf("topic-init: does not create %s", tp.name)
			continue
		}
		if want := map[bool]string{true: "compact", false: "delete"}[tp.compacted]; c[1] != want {
			t.Errorf("topic-init: %s with cleanup.policy=%s, want %s", tp.name, c[1], want)
		}
		if tp.coPartitioned {
			if coPartitions == "" {
				coPartitions = c[0]
			} else if c[0] != coPartitions {
				t.Errorf("topic-init: %s has %s partitions, the other session-keyed topics %s", tp.name, c[0], coPartitions)
			}
		}
		delete(created, tp.name)
	}
	for name := range created {
		t.Errorf("topic-init: creates %s, which schemas/topics.go does not declare", name)
	}
	if !strings.Contains(script, "--bootstrap-server kafka:9092") {
		t.Error("topic-init: should talk to kafka:9092")
	}

	// Three replicas of linger run, started once the topics exist.
	known := runEnvVars(t)
	ids := map[string]bool{}
	for _, name := range []string{"linger-1", "linger-2", "linger-3"} {
		s := services[name]
		if cmd := list(s, "command"); len(cmd) != 1 || cmd[0] != "run" {
			t.Errorf("%s: command %v, want [run]", name, cmd)
		}
		if str(s, "build", "dockerfile") != "deploy/Dockerfile" || str(s, "build", "context") != ".." {
			t.Errorf("%s: should build deploy/Dockerfile from the repository root", name)
		}
		env := obj(s, "environment")
		for k := range env {
			if !known[k] {
				t.Errorf("%s: linger run reads no %s", name, k)
			}
		}
		if env["LINGER_BROKERS"] != "kafka:9092" {
			t.Errorf("%s: LINGER_BROKERS=%v, want kafka:9092", name, env["LINGER_BROKERS"])
		}
		if env["LINGER_HTTP"] != "0.0.0.0:9464" {
			t.Errorf("%s: LINGER_HTTP=%v, want 0.0.0.0:9464 (reachable by Prometheus)", name, env["LINGER_HTTP"])
		}
		id, _ := env["LINGER_INSTANCE_ID"].(string)
		if id == "" || ids[id] {
			t.Errorf("%s: LINGER_INSTANCE_ID %q should be set and distinct", name, id)
		}
		ids[id] = true
		if str(s, "depends_on", "topic-init", "condition") != "service_completed_successfully" {
			t.Errorf("%s: should wait for topic-init to complete", name)
		}
	}

	// Prometheus: the scrape config and the rules; it scrapes the replicas.
	prom := services["prometheus"]
	mounts := volumeSources(t, prom)
	for _, f := range []string{"./prometheus/prometheus.yml", "./prometheus/linger.rules.yaml"} {
		if !slices.Contains(mounts, f) {
			t.Errorf("prometheus: does not mount %s", f)
		}
	}
	pc := yamlDocs(t, "prometheus/prometheus.yml")[0]
	if files := list(pc, "rule_files"); len(files) != 1 || files[0] != "linger.rules.yaml" {
		t.Errorf("prometheus.yml: rule_files %v, want [linger.rules.yaml]", files)
	}
	var targets []string
	for _, sc := range list(pc, "scrape_configs") {
		if str(sc, "job_name") != "linger" {
			continue
		}
		for _, tg := range list(sc, "static_configs", 0, "targets") {
			targets = append(targets, tg.(string))
		}
	}
	if !slices.Equal(targets, []string{"linger-1:9464", "linger-2:9464", "linger-3:9464"}) {
		t.Errorf("prometheus.yml: job linger scrapes %v, want the three replicas", targets)
	}

	// Grafana: the dashboard and the provisioning.
	mounts = volumeSources(t, services["grafana"])
	for _, f := range []string{"./grafana/linger.json", "./grafana/provisioning/datasources", "./grafana/provisioning/dashboards"} {
		if !slices.Contains(mounts, f) {
			t.Errorf("grafana: does not mount %s", f)
		}
	}

	// bench: a one-off under a profile, against the three replicas.
	bench := services["bench"]
	if p := list(bench, "profiles"); len(p) == 0 {
		t.Error("bench: should be under a profile, so that `up` does not start it")
	}
	var args []string
	for _, a := range list(bench, "command") {
		args = append(args, a.(string))
	}
	joined := strings.Join(args, " ")
	if len(args) == 0 || args[0] != "bench" || !strings.Contains(joined, "--brokers kafka:9092") {
		t.Errorf("bench: command %q, want linger bench --brokers kafka:9092", joined)
	}
	for _, r := range []string{"linger-1", "linger-2", "linger-3"} {
		if !strings.Contains(joined, "http://"+r+":9464/metrics") {
			t.Errorf("bench: --metrics does not name %s", r)
		}
	}
}

// volumeSources returns the host paths a service mounts, checking that each
// exists.
func volumeSources(t *testing.T, service any) []string {
	t.Helper()
	var out []string
	for _, v := range list(service, "volumes") {
		s, _ := v.(string)
		src, _, _ := strings.Cut(s, ":")
		if _, err := os.Stat(filepath.FromSlash(src)); err != nil {
			t.Errorf("compose.yaml: volume %q: %v", s, err)
		}
		out = append(out, src)
	}
	return out
}

// runTopicInit runs topic-init's script with bash as compose would (after
// its $$ escapes and ${VAR:-default} defaults), kafka-topics.sh replaced by
// a stub that records its arguments, and returns the partitions and cleanup
// policy of each topic it creates.
func runTopicInit(t *testing.T, script string, env map[string]any) map[string][2]string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run topic-init's script")
	}
	const tool = "/opt/kafka/bin/kafka-topics.sh"
	if !strings.Contains(script, tool) {
		t.Fatalf("topic-init: the script does not run %s", tool)
	}
	dir := t.TempDir()
	log, stub := filepath.Join(dir, "calls"), filepath.Join(dir, "kafka-topics.sh")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\necho \"$@\" >> \"$STUB_LOG\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", strings.ReplaceAll(strings.ReplaceAll(script, "$$", "$"), tool, stub))
	cmd.Env = append(os.Environ(), "STUB_LOG="+log)
	interp := regexp.MustCompile(`^\$\{[A-Z_]+:-(.*)\}$`)
	for k, v := range env {
		s := fmt.Sprint(v)
		if m := interp.FindStringSubmatch(s); m != nil {
			s = m[1]
		}
		cmd.Env = append(cmd.Env, k+"="+s)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("topic-init: the script failed: %v\n%s", err, out)
	}
	created := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, log))), "\n") {
		args := strings.Fields(line)
		flag := func(name string) string {
			for i := range len(args) - 1 {
				if args[i] == name {
					return args[i+1]
				}
			}
			return ""
		}
		if flag("--bootstrap-server") != "kafka:9092" {
			t.Errorf("topic-init: kafka-topics.sh %s: not against kafka:9092", line)
		}
		if !slices.Contains(args, "--create") {
			continue
		}
		policy := strings.TrimPrefix(flag("--config"), "cleanup.policy=")
		created[flag("--topic")] = [2]string{flag("--partitions"), policy}
	}
	return created
}
