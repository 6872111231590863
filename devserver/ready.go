package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	enums "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// pollInterval paces start-up checks: short, because Start's latency is
// mostly spent waiting on them.
const pollInterval = 20 * time.Millisecond

// waitReady returns once the frontend serves the namespace with o's retention
// and search attributes, and visibility accepts queries on those attributes.
func (s *Server) waitReady(ctx context.Context, o Options) error {
	// Lazy: the frontend may still be coming up; the polls below are the
	// connection attempts.
	c, err := client.NewLazyClient(client.Options{
		HostPort:  s.hostPort,
		Namespace: s.namespace,
		Logger:    sdkLogger(o.Logger),
	})
	if err != nil {
		return fmt.Errorf("devserver: client: %w", err)
	}
	defer c.Close()
	wf, op := c.WorkflowService(), c.OperatorService()

	var ns *workflowservice.DescribeNamespaceResponse
	err = poll(ctx, "frontend to serve namespace "+s.namespace, func(ctx context.Context) (err error) {
		ns, err = wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
		var notFound *serviceerror.NamespaceNotFound
		if o.Postgres != nil && errors.As(err, &notFound) {
			// On SQLite the namespace is written into the database before
			// start; on PostgreSQL it is registered here, once (a second
			// registration finds it and the next poll describes it).
			_, err = wf.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
				Namespace:                        s.namespace,
				WorkflowExecutionRetentionPeriod: durationpb.New(o.Retention),
			})
			var exists *serviceerror.NamespaceAlreadyExists
			if err == nil || errors.As(err, &exists) {
				err = errors.New("namespace registered; waiting for the namespace cache")
			}
		}
		return err
	})
	if err != nil {
		return err
	}

	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != o.Retention {
		_, err := wf.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: s.namespace,
			Config: &namespacepb.NamespaceConfig{
				WorkflowExecutionRetentionTtl: durationpb.New(o.Retention),
			},
		})
		if err != nil {
			return fmt.Errorf("devserver: set retention of %s from %v to %v: %w", s.namespace, got, o.Retention, err)
		}
	}

	var added bool
	err = poll(ctx, "search attributes to be added", func(ctx context.Context) (err error) {
		added, err = s.addSearchAttributes(ctx, op, o.SearchAttributes)
		var notFound *serviceerror.NamespaceNotFound
		if err != nil && !errors.As(err, &notFound) {
			// Only a namespace registered a moment ago, which the
			// operator service's cache has not seen yet, is worth waiting
			// for.
			return permanentError{err}
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(o.SearchAttributes) == 0 {
		return nil
	}

	// An attribute is usable once the frontend's namespace cache maps it to
	// a visibility column; querying it is the direct test.
	names := slices.Sorted(maps.Keys(o.SearchAttributes))
	conds := make([]string, len(names))
	for i, n := range names {
		conds[i] = "`" + n + "` IS NULL"
	}
	query := strings.Join(conds, " AND ")
	err = poll(ctx, "search attributes to be queryable", func(ctx context.Context) error {
		_, err := wf.CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: s.namespace,
			Query:     query,
		})
		return err
	})
	if err != nil {
		return err
	}
	if added {
		// History and matching refresh their namespace caches on their own
		// clock; one more period and they have seen the new attributes too.
		select {
		case <-time.After(namespaceRefresh):
		case <-ctx.Done():
			return fmt.Errorf("devserver: waiting for search attributes: %w", ctx.Err())
		}
	}
	return nil
}

// addSearchAttributes registers the attributes missing from the namespace and
// reports whether it added any. Only a restart with new attributes gets here
// with work to do: a new namespace was created with them.
func (s *Server) addSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, want map[string]enums.IndexedValueType) (bool, error) {
	if len(want) == 0 {
		return false, nil
	}
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.namespace})
	if err != nil {
		return false, fmt.Errorf("devserver: list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for name, typ := range want {
		if got, ok := have.GetCustomAttributes()[name]; ok {
			if got != typ {
				return false, fmt.Errorf("devserver: search attribute %s exists as %v, not %v (Temporal cannot change its type)", name, got, typ)
			}
			continue
		}
		if _, ok := have.GetSystemAttributes()[name]; ok {
			return false, fmt.Errorf("devserver: search attribute %s is a Temporal system attribute", name)
		}
		missing[name] = typ
	}
	if len(missing) == 0 {
		return false, nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        s.namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return false, fmt.Errorf("devserver: add search attributes: %w", err)
	}
	return true, nil
}

// poll calls f until it succeeds or ctx ends, giving each attempt a short
// deadline so one hung call cannot eat the whole budget.
func poll(ctx context.Context, what string, f func(context.Context) error) error {
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		var permanent permanentError
		if errors.As(err, &permanent) {
			return permanent.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: waiting for %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}

// permanentError ends a poll at once.
type permanentError struct{ error }
