package identity_test

import (
	"bytes"
	"fmt"

	"github.com/trustid-cn/trustid/identity"
)

func ExampleDeriver() {
	// In a node the keys come from the keystore (secrets "symbol" and
	// "pairwise"); these are fixed for the example.
	symbolKey := identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{0x5a}, 32)}
	pairwiseKey := identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{0xa5}, 32)}
	d, _ := identity.NewDeriver(symbolKey)
	p, _ := identity.NewPairwiseDeriver(pairwiseKey)

	doc, _ := identity.Parse("11010519491231002X")
	sym, _ := d.Derive(doc)
	fmt.Println(sym)        // safe to log: a short prefix
	fmt.Println(sym.Text()) // the full symbol

	legacy, _ := identity.Parse("110105491231002") // the same person's 15-digit number
	again, _ := d.Derive(legacy)
	fmt.Println(again.Equal(sym))

	rp1, _ := p.Derive(sym, identity.Sector{Kind: identity.SectorIdentifier, Name: "rp.example.gov.cn"})
	rp2, _ := p.Derive(sym, identity.Sector{Kind: identity.SectorIdentifier, Name: "bank.example.com"})
	// A client whose client ID is "bank.example.com" and that registered
	// no sector identifier gets other IDs than the sector bank.example.com.
	asClient, _ := p.Derive(sym, identity.Sector{Kind: identity.SectorClientID, Name: "bank.example.com"})
	fmt.Println(rp1.Text())
	fmt.Println(rp2.Text())
	fmt.Println(asClient.Text())

	_, err := identity.ParseSymbol(sym.Text()[:33] + "0")
	fmt.Println(err)
	// Output:
	// 1C57RH0…
	// 1C57RH0PPGQSKV6AVE0H00ESNJCY5J0ZQB
	// true
	// 157A8VW19BHC6DPKVRBVKKG0W8KF02XBA0
	// 142ZCW6Y33JC9VF6VPA9QZXA5WGJDG4VCK
	// 1BWPTDN0SWJX0YB280B6D8MH5D9QBFA0N4
	// identity: identifier check character mismatch
}
