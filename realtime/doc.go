// Package realtime owns what Kapok pushes rather than answers: the change feed (statement
// triggers that NOTIFY, a poll where Kapok may not install them) and GraphQL live queries
// and streams, multiplexed so that subscribers of one plan, role and claims share one
// statement per refresh.
//
// It runs plans (planner.Plan) through a tenant's pool (poolmgr) and knows nothing of
// sockets, protocols or HTTP: the proxy owns the WebSocket endpoint and hands each
// subscription a push function. It must never run a plan as anyone but the subscriber's
// own role and claims, nor refresh a group whose tables did not change when a feed can
// tell.
package realtime
