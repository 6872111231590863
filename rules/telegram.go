package rules

import (
	"errors"
	"strconv"
	"strings"
)

// Telegram login buttons carry "l:<flow id>:<number>" for a number and
// "n:<flow id>" for "Not me". Every button carries its own number, so the
// data says nothing about which one is right: only the login page shows
// it.
const (
	callbackNumber = "l"
	callbackNotMe  = "n"
)

// Telegram numbers are two digits: the page shows one, the buttons offer
// it among others.
const (
	minTelegramNumber = 10
	maxTelegramNumber = 99
)

// LoginCallbackData is the callback data of a number button.
func LoginCallbackData(flowID string, number int) string {
	return callbackNumber + ":" + flowID + ":" + strconv.Itoa(number)
}

// NotMeCallbackData is the callback data of the "Not me" button.
func NotMeCallbackData(flowID string) string { return callbackNotMe + ":" + flowID }

// ParseCallbackData reads what LoginCallbackData or NotMeCallbackData made.
func ParseCallbackData(data string) (flowID string, number int, notMe bool, err error) {
	parts := strings.Split(data, ":")
	switch {
	case len(parts) == 3 && parts[0] == callbackNumber:
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < minTelegramNumber || n > maxTelegramNumber {
			return "", 0, false, errors.New("bad number")
		}
		return parts[1], n, false, nil
	case len(parts) == 2 && parts[0] == callbackNotMe:
		return parts[1], 0, true, nil
	}
	return "", 0, false, errors.New("not an authflow button")
}
