package activities

// Metrics counts what operators watch (metrics.Metrics implements it).
type Metrics interface {
	// Login counts a login step's outcome by method ("" is the password).
	Login(method, outcome string)
	SagaStarted()
	SagaCompleted()
	SagaCompensated()
	// PhoneSendRefused counts a code not sent to a phone, by why: "cap"
	// (the hourly cap on all phone sends: a pumping wave may be under
	// way), "type" or "region" (the number may not get codes), "invalid".
	PhoneSendRefused(reason string)
}

type noMetrics struct{}

func (noMetrics) Login(string, string)    {}
func (noMetrics) SagaStarted()            {}
func (noMetrics) SagaCompleted()          {}
func (noMetrics) SagaCompensated()        {}
func (noMetrics) PhoneSendRefused(string) {}

func (a *Activities) metrics() Metrics {
	if a.Metrics == nil {
		return noMetrics{}
	}
	return a.Metrics
}
