package app

import (
	"context"
	"fmt"
	"io"

	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/store"
)

// sealRegistry seals the clear templates of registry records written before
// templates were sealed, on the first open that holds the master key. It
// first checks the key against a merchant's secret: templates sealed under
// a wrong key would be lost to the right one.
func (a *App) sealRegistry(ctx context.Context, sealer *merchant.Sealer, notices io.Writer) error {
	pending, err := a.Store.ListIdentities(ctx, store.IdentityFilter{Unsealed: true, Limit: 1})
	if err != nil || len(pending) == 0 {
		return err
	}
	ms, err := a.Store.ListMerchants(ctx)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		if _, err := sealer.Open(ms[0].AppKey, ms[0].SecretCipher); err != nil {
			return fmt.Errorf("not sealing the registry's templates under this key: %w", err)
		}
	}
	n, err := a.Registry.SealLegacy(ctx)
	if n > 0 {
		fmt.Fprintf(notices, "portrait: sealed %d registry templates under the master key\n", n)
	}
	if err != nil {
		return fmt.Errorf("seal registry templates: %w", err)
	}
	return nil
}
