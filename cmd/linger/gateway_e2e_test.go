package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// gatewaySecret is a token secret random enough for the gateway.
const gatewaySecret = "pZ3k9Qw-Lm2Xv8Rt_Yh5Nb1Cd7Fg4Js6A"

// TestGatewayCommand runs `linger gateway` against `linger broker`, as
// processes: a session of a site it serves (named in the environment, as
// compose and Kubernetes do), a batch of events into visitor-events, the
// tracker, metrics and readiness, a clean stop. The secret comes from a
// file that others may read: warned about.
func TestGatewayCommand(t *testing.T) {
	addr := startBroker(t, 2)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(gatewaySecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := start(t, []string{"LINGER_SITES=shop-a,shop-b"}, "gateway", "--brokers", addr, "--secret-file", secretFile, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	url := gw.waitOutput(t, `linger gateway listening on (http://127\.0\.0\.1:\d+)`, 20*time.Second)[1]
	metrics := gw.waitOutput(t, `serving /metrics.* addr=(http://127\.0\.0\.1:\d+)`, 5*time.Second)[1]
	waitReady(t, metrics+"/readyz")
	gw.waitOutput(t, `secret file can be read by others`, 5*time.Second)
	if strings.Contains(gw.output(), "serving sessions for any site") {
		t.Fatalf("warned about serving any site with LINGER_SITES set:\n%s", gw.output())
	}

	if resp, err := http.Post(url+"/v1/sessions", "", strings.NewReader(`{"site":"shop-c"}`)); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /v1/sessions for a site not served: %v %v", resp, err)
	}
	resp, err := http.Post(url+"/v1/sessions", "", strings.NewReader(`{"site":"shop-b"}`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Session, Token string }
	err = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/sessions: %d %v", resp.StatusCode, err)
	}
	ts := time.Now().UnixMilli()
	body := `[{"v":1,"type":"page_view","session":"` + s.Session + `","site":"shop-b","ts":` + strconv.FormatInt(ts, 10) + `,"page":{"url":"/cart?coupon=x","kind":"cart"}},` +
		`{"v":1,"type":"idle","session":"` + s.Session + `","ts":` + strconv.FormatInt(ts+1, 10) + `,"ms":20000,"page":{"url":"/cart","kind":"cart"}}]`
	req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("User-Agent", chromeUA)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d", resp.StatusCode)
	}
	events := sessionRecords(t, addr, schemas.TopicEvents, s.Session, func(v []string) bool { return len(v) == 2 })
	if !strings.Contains(events[1], `"type":"idle"`) || !strings.Contains(events[1], `"site":"shop-b"`) || strings.Contains(events[0], "coupon") {
		t.Fatalf("events: %q", events)
	}

	if code, js := httpGet(t, url+"/linger.js"); code != 200 || !strings.Contains(js, "linger") {
		t.Fatalf("GET /linger.js: %d", code)
	}
	if code, _ := httpGet(t, url+"/"); code != http.StatusNotFound {
		t.Fatalf("GET / without --shop: %d, want 404", code)
	}
	if code, m := httpGet(t, metrics+"/metrics"); code != 200 || !strings.Contains(m, `linger_gateway_events_total{result="accepted"} 2`) || !strings.Contains(m, "linger_build_info") {
		t.Fatalf("GET /metrics: %d\n%s", code, m)
	}
	gw.stop(t, 10*time.Second)
}

func TestGatewayFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"gateway", "--brokers", "127.0.0.1:1"}, "no token secret"},
		{[]string{"LINGER_GATEWAY_SECRET=short"}, []string{"gateway", "--brokers", "127.0.0.1:1"}, "at least 32"},
		{[]string{"LINGER_GATEWAY_SECRET=" + strings.Repeat("s", 32)}, []string{"gateway", "--brokers", "127.0.0.1:1"}, "repeats a pattern"},
		{[]string{"LINGER_GATEWAY_SECRET=" + gatewaySecret}, []string{"gateway"}, "no brokers"},
		{[]string{"LINGER_GATEWAY_SECRET=" + gatewaySecret}, []string{"gateway", "--brokers", "127.0.0.1:1", "--allowed-origins", "shop.example.com"}, "allowed origin"},
		{[]string{"LINGER_GATEWAY_SECRET=" + gatewaySecret}, []string{"gateway", "--brokers", "127.0.0.1:1", "--sasl-mechanism", "plain"}, "needs --sasl-user"},
		{[]string{"LINGER_GATEWAY_SECRET=" + gatewaySecret, "LINGER_SITES=shop-a,<b>"}, []string{"gateway", "--brokers", "127.0.0.1:1"}, `sites: site "<b>"`},
		{[]string{"LINGER_GATEWAY_SECRET=" + gatewaySecret, "LINGER_PLATFORM_TOKEN=platform"}, []string{"gateway", "--brokers", "127.0.0.1:1"}, "the platform token has 8 bytes"},
	} {
		code, out := runEnv(t, tc.env, tc.args...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%v %v: exit %d, want 1 and %q:\n%s", tc.env, tc.args, code, tc.want, out)
		}
	}
}
