package realtime

import "github.com/prometheus/client_golang/prometheus"

// ChannelMetrics are the Supabase Realtime channel layer's Prometheus metrics; the server
// registers them with its own.
type ChannelMetrics struct {
	connections prometheus.Gauge
	channels    prometheus.Gauge
	messages    *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	relay       *prometheus.CounterVec
	rejected    *prometheus.CounterVec

	// Children resolved once.
	msgHeartbeat, msgJoin, msgLeave, msgBroadcast, msgPresence, msgToken, msgOther prometheus.Counter
	delBroadcast, delPresence, delChanges, delSystem                               prometheus.Counter
	relaySent, relayReceived                                                       prometheus.Counter
}

// NewChannelMetrics builds the channel layer's metrics.
func NewChannelMetrics() *ChannelMetrics {
	m := &ChannelMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kapok_realtime_connections",
			Help: "Open Supabase Realtime WebSocket connections."}),
		channels: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kapok_realtime_channels",
			Help: "Joined Supabase Realtime channels."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_realtime_messages_total",
			Help: "Messages received from Supabase Realtime clients, by kind."}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_realtime_pushed_total",
			Help: "Messages pushed to Supabase Realtime channels, by kind."}, []string{"kind"}),
		relay: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_realtime_relay_messages_total",
			Help: "Broadcast and presence messages exchanged with other Kapok processes through PostgreSQL NOTIFY."}, []string{"direction"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_realtime_rejected_total",
			Help: "Supabase Realtime joins and messages refused, by reason."}, []string{"reason"}),
	}
	m.msgHeartbeat = m.messages.WithLabelValues("heartbeat")
	m.msgJoin = m.messages.WithLabelValues("join")
	m.msgLeave = m.messages.WithLabelValues("leave")
	m.msgBroadcast = m.messages.WithLabelValues("broadcast")
	m.msgPresence = m.messages.WithLabelValues("presence")
	m.msgToken = m.messages.WithLabelValues("access_token")
	m.msgOther = m.messages.WithLabelValues("other")
	m.delBroadcast = m.deliveries.WithLabelValues("broadcast")
	m.delPresence = m.deliveries.WithLabelValues("presence")
	m.delChanges = m.deliveries.WithLabelValues("postgres_changes")
	m.delSystem = m.deliveries.WithLabelValues("system")
	m.relaySent = m.relay.WithLabelValues("sent")
	m.relayReceived = m.relay.WithLabelValues("received")
	for _, r := range []string{reasonChannels, reasonJoins, reasonMessages, reasonAuth, reasonPrivate} {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// Rejection reasons.
const (
	reasonChannels = "too_many_channels"
	reasonJoins    = "join_rate"
	reasonMessages = "message_rate"
	reasonAuth     = "unauthorized"
	reasonPrivate  = "private_channel"
)

// Describe implements prometheus.Collector.
func (m *ChannelMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.connections.Describe(ch)
	m.channels.Describe(ch)
	m.messages.Describe(ch)
	m.deliveries.Describe(ch)
	m.relay.Describe(ch)
	m.rejected.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *ChannelMetrics) Collect(ch chan<- prometheus.Metric) {
	m.connections.Collect(ch)
	m.channels.Collect(ch)
	m.messages.Collect(ch)
	m.deliveries.Collect(ch)
	m.relay.Collect(ch)
	m.rejected.Collect(ch)
}
