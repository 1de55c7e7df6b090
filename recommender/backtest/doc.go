// Package backtest answers a user's first question, "how much would I
// save, and what would break?", from history: it replays a trace in time
// order, lets each policy (rightsizer's profiles and the VPA, KRR and
// provisioned baselines) see only the past, applies its decisions at
// fixed decision points, and scores the interval that follows.
package backtest
