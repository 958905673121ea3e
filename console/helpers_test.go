package console_test

import "github.com/portrait-id/portrait/merchant"

func merchantSettings(name string) merchant.Settings { return merchant.NewSettings(name) }
