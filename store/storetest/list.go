package storetest

import (
	"fmt"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

func listCases() []testCase {
	return []testCase{
		{"PaginateMessages", testPaginateMessages},
		{"PaginateSessions", testPaginateSessions},
		{"PaginateCheckpoints", testPaginateCheckpoints},
		{"ListSessionsFilters", testListSessionsFilters},
	}
}

// pageCase is a page request and the window of items it must return.
type pageCase struct {
	offset, limit int
	lo, hi        int // expected items [lo, hi)
}

func testPaginateMessages(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	const n = 25
	e.commit(t, "s-1", textMessages(0, 10), nil, nil)
	e.commit(t, "s-1", textMessages(10, 10), nil, nil)
	e.commit(t, "s-1", textMessages(20, 5), nil, nil)
	all := textMessages(0, n)
	for _, pc := range []pageCase{
		{0, 10, 0, 10}, {10, 10, 10, 20}, {20, 10, 20, 25}, {0, 0, 0, 25}, {7, -1, 7, 25},
		{24, 1, 24, 25}, {25, 10, 25, 25}, {30, 0, 25, 25}, {0, 25, 0, 25}, {0, 26, 0, 25}, {-5, 3, 0, 3},
	} {
		got, err := e.st.ListMessages(e.ctx, "s-1", pc.offset, pc.limit)
		what := fmt.Sprintf("ListMessages(offset %d, limit %d) of %d messages", pc.offset, pc.limit, n)
		must(t, err, "%s", what)
		want := store.Page[llm.Message]{Items: all[pc.lo:pc.hi], Total: n, HasMore: pc.hi < n}
		if d := diff(want, got); d != "" {
			t.Errorf("%s; -want +got:\n%s", what, d)
		}
	}
}

func testPaginateSessions(t *testing.T, e *env) {
	// 7 sessions one minute apart, plus two sharing a CreatedAt.
	var ids []string // newest first
	for i := range 7 {
		id := fmt.Sprintf("p-%d", i)
		e.create(t, &store.Session{ID: id, AgentType: "pager", Principal: "pager", Status: helix.StatusCompleted,
			CreatedAt: base.Add(time.Duration(i) * time.Minute)})
		ids = append([]string{id}, ids...)
	}
	for _, id := range []string{"tie-a", "tie-b"} {
		e.create(t, &store.Session{ID: id, AgentType: "pager", Principal: "pager", Status: helix.StatusCompleted,
			CreatedAt: base.Add(-time.Hour)})
	}
	ids = append(ids, "tie-b", "tie-a") // equal CreatedAt: ID descending
	n := len(ids)
	for _, pc := range []pageCase{
		{0, 3, 0, 3}, {3, 3, 3, 6}, {6, 3, 6, 9}, {8, 3, 8, 9}, {9, 3, 9, 9}, {20, 3, 9, 9}, {0, 0, 0, 9}, {0, -1, 0, 9}, {2, 100, 2, 9},
	} {
		q := store.SessionQuery{Principal: "pager", Offset: pc.offset, Limit: pc.limit}
		what := fmt.Sprintf("ListSessions(offset %d, limit %d) of %d sessions", pc.offset, pc.limit, n)
		got, err := e.st.ListSessions(e.ctx, q)
		must(t, err, "%s", what)
		if got.Total != n || got.HasMore != (pc.hi < n) {
			t.Errorf("%s: Total %d, HasMore %v; want %d, %v", what, got.Total, got.HasMore, n, pc.hi < n)
		}
		if d := diff(ids[pc.lo:pc.hi], sessionIDs(got.Items)); d != "" {
			t.Errorf("%s: want newest first (CreatedAt descending, then ID descending); -want +got IDs:\n%s", what, d)
		}
	}

	// The default page size is 50.
	for i := range 55 {
		e.create(t, &store.Session{ID: fmt.Sprintf("many-%02d", i), AgentType: "pager", Principal: "many",
			CreatedAt: base.Add(time.Duration(i) * time.Second)})
	}
	got, err := e.st.ListSessions(e.ctx, store.SessionQuery{Principal: "many"})
	must(t, err, "ListSessions with Limit 0")
	if len(got.Items) != 50 || got.Total != 55 || !got.HasMore {
		t.Errorf("ListSessions with Limit 0 of 55 sessions: %d items, Total %d, HasMore %v; want 50, 55, true (0 means 50)",
			len(got.Items), got.Total, got.HasMore)
	}
	if len(got.Items) > 0 && got.Items[0].ID != "many-54" {
		t.Errorf("ListSessions: first item %q, want the newest, many-54", got.Items[0].ID)
	}
	got, err = e.st.ListSessions(e.ctx, store.SessionQuery{Principal: "many", Offset: 50})
	must(t, err, "ListSessions with Offset 50")
	if len(got.Items) != 5 || got.Total != 55 || got.HasMore {
		t.Errorf("ListSessions(offset 50) of 55 sessions: %d items, Total %d, HasMore %v; want 5, 55, false",
			len(got.Items), got.Total, got.HasMore)
	}
}

func sessionIDs(ss []*store.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func testPaginateCheckpoints(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	const n = 12
	var all []*store.Checkpoint
	for i := range n {
		// IDs do not sort in commit order: order is by insertion.
		id := fmt.Sprintf("cp-%02d", (i*5)%n)
		cp := fullCheckpoint(t, id, "run-1", i+1)
		e.commit(t, "s-1", nil, nil, cp)
		want := fullCheckpoint(t, id, "run-1", i+1)
		want.SessionID = "s-1"
		all = append(all, want)
	}
	for _, pc := range []pageCase{
		{0, 5, 0, 5}, {5, 5, 5, 10}, {10, 5, 10, 12}, {0, 0, 0, 12}, {3, -1, 3, 12}, {12, 5, 12, 12}, {40, 0, 12, 12},
	} {
		what := fmt.Sprintf("ListCheckpoints(offset %d, limit %d) of %d checkpoints", pc.offset, pc.limit, n)
		got, err := e.st.ListCheckpoints(e.ctx, "s-1", pc.offset, pc.limit)
		must(t, err, "%s", what)
		want := store.Page[*store.Checkpoint]{Items: all[pc.lo:pc.hi], Total: n, HasMore: pc.hi < n}
		if d := diff(want, got); d != "" {
			t.Errorf("%s (oldest first); -want +got:\n%s", what, d)
		}
	}
	latest, err := e.st.LatestCheckpoint(e.ctx, "s-1")
	must(t, err, "LatestCheckpoint")
	if d := diff(all[n-1], latest); d != "" {
		t.Errorf("LatestCheckpoint must return the newest checkpoint; -want +got:\n%s", d)
	}
	got, err := e.st.GetCheckpoint(e.ctx, "s-1", all[3].ID)
	must(t, err, "GetCheckpoint")
	if d := diff(all[3], got); d != "" {
		t.Errorf("GetCheckpoint(%q); -want +got:\n%s", all[3].ID, d)
	}
}

func testListSessionsFilters(t *testing.T, e *env) {
	type row struct {
		id, principal, agent string
		status               helix.Status
	}
	rows := []row{
		{"a1", "alice", "chat", helix.StatusRunning},
		{"a2", "alice", "chat", helix.StatusCompleted},
		{"a3", "alice", "research", helix.StatusCompleted},
		{"b1", "bob", "chat", helix.StatusCompleted},
		{"b2", "bob", "research", helix.StatusSuspendedApproval},
		{"n1", "", "chat", helix.StatusFailed},
	}
	for i, r := range rows {
		e.create(t, &store.Session{ID: r.id, Principal: r.principal, AgentType: r.agent, Status: r.status,
			CreatedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	// The status filter sees committed changes.
	s := e.get(t, "a1")
	s.Status = helix.StatusInterrupted
	_, err := e.st.Commit(e.ctx, store.Commit{Session: s, ExpectedVersion: 1})
	must(t, err, "Commit")

	for _, tc := range []struct {
		q    store.SessionQuery
		want []string
	}{
		{store.SessionQuery{}, []string{"n1", "b2", "b1", "a3", "a2", "a1"}},
		{store.SessionQuery{Principal: "alice"}, []string{"a3", "a2", "a1"}},
		{store.SessionQuery{Principal: "bob"}, []string{"b2", "b1"}},
		{store.SessionQuery{Principal: "carol"}, nil},
		{store.SessionQuery{AgentType: "research"}, []string{"b2", "a3"}},
		{store.SessionQuery{Principal: "alice", AgentType: "chat"}, []string{"a2", "a1"}},
		{store.SessionQuery{Status: helix.StatusCompleted}, []string{"b1", "a3", "a2"}},
		{store.SessionQuery{Status: helix.StatusRunning}, nil},
		{store.SessionQuery{Status: helix.StatusInterrupted}, []string{"a1"}},
		{store.SessionQuery{Principal: "alice", AgentType: "chat", Status: helix.StatusCompleted}, []string{"a2"}},
		{store.SessionQuery{Principal: "bob", AgentType: "chat", Status: helix.StatusFailed}, nil},
	} {
		got, err := e.st.ListSessions(e.ctx, tc.q)
		what := fmt.Sprintf("ListSessions(%+v)", tc.q)
		must(t, err, "%s", what)
		if d := diff(tc.want, sessionIDs(got.Items)); d != "" {
			t.Errorf("%s: wrong sessions (filters must isolate principals, agent types and statuses); -want +got IDs:\n%s", what, d)
		}
		if got.Total != len(tc.want) || got.HasMore {
			t.Errorf("%s: Total %d, HasMore %v; want %d, false", what, got.Total, got.HasMore, len(tc.want))
		}
	}
	// Items are whole records.
	got, err := e.st.ListSessions(e.ctx, store.SessionQuery{Principal: "bob", AgentType: "research"})
	must(t, err, "ListSessions")
	if len(got.Items) == 1 {
		if d := diff(e.get(t, "b2"), got.Items[0]); d != "" {
			t.Errorf("ListSessions items must equal GetSession's record; -GetSession +ListSessions:\n%s", d)
		}
	}
}
