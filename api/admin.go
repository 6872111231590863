package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

func (s *Server) adminCreateUser(c *gin.Context) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	email, err := rules.ParseEmail(req.Email)
	if err != nil {
		fail(c, err)
		return
	}
	if err := rules.CheckNewPassword(req.Password); err != nil {
		fail(c, err)
		return
	}
	hash, err := s.Hasher.Hash(req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	u, err := s.Store.CreateUser(c.Request.Context(), email, hash)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(c, newErr(errkind.Conflict, "a user with this email exists"))
			return
		}
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": u.ID, "email": u.Email})
}

// UserRow is one account as GET /v1/admin/users and `authflow users list`
// show it.
type UserRow struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxUsersPage is the most accounts one page lists.
const MaxUsersPage = 1000

// ListUsers is one page of the accounts whose email contains
// emailContains (any case; "" lists all), in email order, after the page
// cursor names ("" for the first), and the cursor of the next page ("" at
// the end). A cursor is opaque to clients; a malformed one is ErrBadCursor.
func ListUsers(ctx context.Context, st store.Store, emailContains, cursor string, limit int) ([]UserRow, string, error) {
	after, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || (cursor != "" && len(after) == 0) {
		return nil, "", ErrBadCursor
	}
	// One more than asked says whether a next page exists.
	users, err := st.ListUsers(ctx, store.UserQuery{EmailContains: emailContains, AfterEmail: string(after), Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(users[limit-1].Email))
	}
	rows := make([]UserRow, len(users))
	for i, u := range users {
		rows[i] = UserRow{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt.UTC()}
	}
	return rows, next, nil
}

// ErrBadCursor is ListUsers' answer to a cursor it did not make.
var ErrBadCursor = errors.New("cursor is not one a previous page gave")

func (s *Server) adminListUsers(c *gin.Context) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxUsersPage {
			fail(c, badRequest(fmt.Sprintf("limit must be 1-%d", MaxUsersPage)))
			return
		}
		limit = n
	}
	// The contract names the cursor `after` and the answer's `next`;
	// `cursor` and `next_cursor` are the same, kept for the CLI's users.
	cursor := c.Query("after")
	if cursor == "" {
		cursor = c.Query("cursor")
	}
	rows, next, err := ListUsers(c.Request.Context(), s.Store, c.Query("email"), cursor, limit)
	if errors.Is(err, ErrBadCursor) {
		fail(c, badRequest(err.Error()))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	body := gin.H{"users": rows, "next": next}
	if next != "" {
		body["next_cursor"] = next
	}
	c.JSON(http.StatusOK, body)
}

// adminUser loads the path's user or answers 404.
func (s *Server) adminUser(c *gin.Context) (store.User, bool) {
	u, err := s.Store.UserByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fail(c, newErr(errkind.NotFound, "no such user"))
		} else {
			fail(c, err)
		}
		return u, false
	}
	return u, true
}

func (s *Server) adminGetUser(c *gin.Context) {
	u, ok := s.adminUser(c)
	if !ok {
		return
	}
	m, err := s.meDocument(c.Request.Context(), u.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// adminUnlock ends the account's lockouts, the second step's hard cap
// included (docs/security.md "Hard cap"), and records it.
func (s *Server) adminUnlock(c *gin.Context) {
	u, ok := s.adminUser(c)
	if !ok {
		return
	}
	if err := s.account().AdminUnlock(c.Request.Context(), rules.Change{UserID: u.ID, IP: clientIP(c)}, u.Email); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) adminAddCard(c *gin.Context) {
	var req struct {
		Brand string `json:"brand"`
		Last4 string `json:"last4"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	req.Brand = strings.TrimSpace(req.Brand)
	if req.Brand == "" || len(req.Brand) > 32 || len(req.Last4) != 4 || !allDigits(req.Last4) {
		fail(c, badRequest("brand (1-32 characters) and last4 (4 digits) are required"))
		return
	}
	u, ok := s.adminUser(c)
	if !ok {
		return
	}
	card, err := s.Store.AddBankCard(c.Request.Context(), u.ID, req.Brand, req.Last4)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toCardJSON(card))
}

func (s *Server) adminAddPhone(c *gin.Context) {
	var req struct {
		Number string `json:"number"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	n, err := phone.Normalize(req.Number)
	if err != nil {
		fail(c, badRequest(err.Error()))
		return
	}
	// A seeded phone is offered at login for calls and SMS: it must take
	// at least a call (a fixed line is offered for calls only).
	if err := s.phonePolicy().Check(n, phone.UseCall); err != nil {
		fail(c, badRequest(err.Error()))
		return
	}
	u, ok := s.adminUser(c)
	if !ok {
		return
	}
	p, err := s.Store.AddPhone(c.Request.Context(), u.ID, n, true)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(c, newErr(errkind.Conflict, "the user has this number already"))
			return
		}
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toPhoneJSON(p))
}

// FlowRow is one flow as GET /v1/admin/flows and `authflow flows` show it.
type FlowRow struct {
	FlowID     string    `json:"flow_id"`
	WorkflowID string    `json:"workflow_id"`
	Kind       string    `json:"kind"`
	UserID     string    `json:"user_id"`
	State      string    `json:"state"`
	Method     string    `json:"method"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// FlowFilter selects flows from Temporal visibility.
type FlowFilter struct {
	Kind, State, UserID string
	// OlderThan keeps flows whose last state change is older than this.
	OlderThan time.Duration
	Limit     int
}

// FlowStates are the values AuthflowState takes: what the flows show, and
// the first state each kind has before its first step.
var FlowStates = []workflows.State{workflows.StatePassword, workflows.StateStarting, workflows.StateChooseMethod,
	workflows.StateChallenge, workflows.StateDone, workflows.StateFailed, workflows.StateExpired,
	workflows.StateEmailSent, workflows.StateSecondFactor, workflows.StateWaiting, workflows.StateSetPassword,
	workflows.StateCancelled}

// FlowKinds are the values AuthflowKind takes.
var FlowKinds = []string{workflows.KindLogin, workflows.KindEnroll, workflows.KindRecovery}

// Check refuses a filter no flow can match: a misspelt kind or state
// would otherwise list nothing, which reads as "no flow is stuck".
func (f FlowFilter) Check() error {
	var errs []error
	if f.Kind != "" && !slices.Contains(FlowKinds, f.Kind) {
		errs = append(errs, fmt.Errorf("kind must be one of %s (got %q)", strings.Join(FlowKinds, ", "), f.Kind))
	}
	if f.State != "" && !slices.Contains(FlowStates, workflows.State(f.State)) {
		names := make([]string, len(FlowStates))
		for i, st := range FlowStates {
			names[i] = string(st)
		}
		errs = append(errs, fmt.Errorf("state must be one of %s (got %q)", strings.Join(names, ", "), f.State))
	}
	if f.OlderThan < 0 {
		errs = append(errs, errors.New("older_than must not be negative"))
	}
	return errors.Join(errs...)
}

// quote makes a visibility query string literal.
func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "") + "'" }

// Query is the visibility query for the filter.
func (f FlowFilter) Query(now time.Time) string {
	kinds := make([]string, len(FlowKinds))
	for i, k := range FlowKinds {
		kinds[i] = quote(k)
	}
	q := []string{"AuthflowKind IN (" + strings.Join(kinds, ", ") + ")"}
	if f.Kind != "" {
		q = append(q, "AuthflowKind = "+quote(f.Kind))
	}
	if f.State != "" {
		q = append(q, "AuthflowState = "+quote(f.State))
	}
	if f.UserID != "" {
		q = append(q, "AuthflowUserID = "+quote(f.UserID))
	}
	if f.OlderThan > 0 {
		// A closed flow cannot be stuck; a running one is stuck when its
		// state has not changed for OlderThan.
		q = append(q, "ExecutionStatus = 'Running'",
			fmt.Sprintf("AuthflowStateChangedAt < '%s'", now.Add(-f.OlderThan).UTC().Format(time.RFC3339Nano)))
	}
	return strings.Join(q, " AND ")
}

func (s *Server) adminFlows(c *gin.Context) {
	f := FlowFilter{Kind: c.Query("kind"), State: c.Query("state"), UserID: c.Query("user_id"), Limit: 100}
	if v := c.Query("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fail(c, badRequest("older_than must be a duration such as 5m"))
			return
		}
		f.OlderThan = d
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(c, badRequest("limit must be 1-1000"))
			return
		}
		f.Limit = n
	}
	if err := f.Check(); err != nil {
		fail(c, badRequest(err.Error()))
		return
	}
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	rows, err := ListFlows(ctx, s.Temporal, f, s.now())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"flows": rows})
}

// ListFlows runs the filter against Temporal visibility, newest first.
func ListFlows(ctx context.Context, tc client.Client, f FlowFilter, now time.Time) ([]FlowRow, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out := []FlowRow{}
	var token []byte
	for len(out) < f.Limit {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: f.Query(now), PageSize: int32(min(f.Limit, 100)), NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Executions {
			row := FlowRow{WorkflowID: e.GetExecution().GetWorkflowId(), StartedAt: e.GetStartTime().AsTime().UTC()}
			row.UpdatedAt = row.StartedAt
			_, row.FlowID, _ = strings.Cut(row.WorkflowID, "/")
			sa := e.GetSearchAttributes().GetIndexedFields()
			row.Kind = keyword(sa["AuthflowKind"].GetData())
			row.UserID = keyword(sa["AuthflowUserID"].GetData())
			row.State = keyword(sa["AuthflowState"].GetData())
			row.Method = keyword(sa["AuthflowMethod"].GetData())
			if t, err := time.Parse(time.RFC3339Nano, keyword(sa["AuthflowStateChangedAt"].GetData())); err == nil {
				row.UpdatedAt = t.UTC()
			}
			out = append(out, row)
			if len(out) == f.Limit {
				break
			}
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

// keyword decodes a JSON string payload ("\"abc\"").
func keyword(b []byte) string {
	if s, err := strconv.Unquote(string(b)); err == nil {
		return s
	}
	return ""
}
