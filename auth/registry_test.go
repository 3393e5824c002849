package auth_test

import (
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
)

func TestMemoryStoreConformance(t *testing.T) {
	clientstoretest.Run(t, func(t *testing.T) auth.ClientStore { return auth.NewMemoryStore(nil) })
}

func TestClientsFileIsStrict(t *testing.T) {
	good := clientstoretest.Client(t, "svc-a")
	raw, err := auth.MarshalClientsFile([]auth.Client{good})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := auth.ParseClientsFile(raw); err != nil || len(back) != 1 || back[0].ID != good.ID {
		t.Fatalf("round trip: %v %v", back, err)
	}
	body := string(raw)
	bad := map[string]string{
		"unknown format":           strings.Replace(body, "trustid-clients/1", "trustid-clients/2", 1),
		"unknown field":            strings.Replace(body, `"client_name"`, `"colour": "red", "client_name"`, 1),
		"repeated key":             strings.Replace(body, `"client_name"`, `"region": "110000", "client_name"`, 1),
		"repeated in another case": strings.Replace(body, `"client_name"`, `"REGION": "110000", "client_name"`, 1),
		"member in another case":   strings.Replace(body, `"client_name"`, `"Client_Name"`, 1),
		"trailing data":            body + "{}",
		"invalid client":           strings.Replace(body, `"310000"`, `"310100"`, 1),
		"duplicate id":             strings.Replace(body, `"clients": [`, `"clients": [`+clientJSON(t, body)+`,`, 1),
		"not JSON":                 "clients: []",
	}
	for name, content := range bad {
		if _, err := auth.ParseClientsFile([]byte(content)); err == nil {
			t.Errorf("%s: accepted", name)
		}
		// ParseClientsFileEach refuses the same documents, and takes an
		// invalid client's file as one refusal.
		valid, refused, err := auth.ParseClientsFileEach([]byte(content))
		if name == "invalid client" {
			if err != nil || len(valid) != 0 || len(refused) != 1 || !strings.Contains(refused[0].Error(), `"svc-a"`) {
				t.Errorf("%s, each: %v %v %v, want svc-a refused by its client_id", name, valid, refused, err)
			}
		} else if err == nil {
			t.Errorf("%s, each: accepted", name)
		}
	}
	if strings.Contains(body, "secret") {
		t.Error("a private_key_jwt client has a secret field")
	}
}

// clientJSON extracts the one client object of a clients.json body.
func clientJSON(t *testing.T, body string) string {
	start := strings.Index(body, "{\n      \"client_id\"")
	end := strings.LastIndex(body, "}\n  ]")
	if start < 0 || end < 0 {
		t.Fatalf("unexpected layout:\n%s", body)
	}
	return body[start : end+1]
}

// TestClientsFileResources: a clients file in which two enabled clients
// register one resource is refused; a disabled client holds none, as in
// every ClientStore.
func TestClientsFileResources(t *testing.T) {
	a, b := clientstoretest.Client(t, "svc-a"), clientstoretest.Client(t, "svc-b")
	a.Resources, b.Resources = []string{"https://api.example/v1"}, []string{"https://api.example/v1"}
	for _, disabled := range []bool{false, true} {
		b.Disabled = disabled
		raw, err := auth.MarshalClientsFile([]auth.Client{a, b})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auth.ParseClientsFile(raw); (err == nil) != disabled {
			t.Errorf("one resource of two clients, one disabled %v: %v", disabled, err)
		}
	}
}
