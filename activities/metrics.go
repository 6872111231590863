package activities

// Metrics counts what operators watch (metrics.Metrics implements it).
type Metrics interface {
	// Login counts a login step's outcome by method ("" is the password).
	Login(method, outcome string)
	SagaStarted()
	SagaCompleted()
	SagaCompensated()
}

type noMetrics struct{}

func (noMetrics) Login(string, string) {}
func (noMetrics) SagaStarted()         {}
func (noMetrics) SagaCompleted()       {}
func (noMetrics) SagaCompensated()     {}

func (a *Activities) metrics() Metrics {
	if a.Metrics == nil {
		return noMetrics{}
	}
	return a.Metrics
}
