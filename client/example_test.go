package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/authflow/authflow/client"
)

// A password and TOTP login: the password starts the flow, the
// authenticator app's code answers it straight from choose_method, and
// the answer carries the session. README.md shows the same program; this
// copy is compiled with the tests, so the two cannot rot unnoticed.
func Example_totpLogin() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses("http://localhost:8080")
	if err != nil {
		log.Fatal(err)
	}
	start, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{Email: "me@example.com", Password: "correct horse"})
	if err != nil || start.JSON200 == nil {
		log.Fatalf("login: %v %s", err, start.Body)
	}
	flow := start.JSON200 // state "choose_method": the second step is due
	totp := client.CodeAnswerMethodTotp
	var answer client.AnswerRequest
	_ = answer.FromCodeAnswer(client.CodeAnswer{Code: "123456" /* the app's code */, Method: &totp})
	done, err := c.LoginVerifyWithResponse(ctx, flow.FlowId, answer, client.FlowSecret(flow.FlowSecret))
	if err != nil || done.JSON200 == nil {
		log.Fatalf("verify: %v %s", err, done.Body) // done.JSON400.Error.Code: invalid_code, code_already_used…
	}
	fmt.Println("session:", done.JSON200.Session.Token)
}
