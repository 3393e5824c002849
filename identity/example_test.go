package identity_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/trustid-cn/trustid/identity"
)

func ExampleParse() {
	v := &identity.Validator{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	doc, err := v.Parse("11010519491231002X")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := doc.Region()
	fmt.Println(doc) // masked
	fmt.Println(doc.Type(), doc.BirthDate(), doc.Sex())
	fmt.Println(r.Code, r.Province, r.County, r.Known)

	legacy, _ := v.Parse("110105491231002")
	fmt.Println(legacy.Equal(doc))

	_, err = v.Parse("110105194912310021")
	var fe *identity.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Field, fe.Code, errors.Is(err, identity.ErrCheckDigit))
	}
	fmt.Println(err)
	// Output:
	// resident_id 1101**********002X
	// resident_id 1949-12-31 female
	// 110105 北京市 朝阳区 true
	// true
	// check_character check_digit_mismatch true
	// identity: check_character: check character mismatch
}

func ExampleParseMRZ() {
	doc, err := identity.ParseMRZ(
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v\n", doc)
	fmt.Println(doc.Nationality(), doc.Expiry().Format(time.DateOnly))
	fmt.Println(identity.MaskName(doc.Surname()), identity.MaskName(doc.GivenNames()))
	// Output:
	// passport UTO L8*****C3
	// UTO 2012-04-15
	// E******* A*** M****
}

func ExampleMaskName() {
	fmt.Println(identity.MaskName("张三"))
	fmt.Println(identity.MaskName("欧阳修远"))
	fmt.Println(identity.MaskName("John Smith"))
	// Output:
	// 张*
	// 欧阳**
	// J*** S****
}

func ExampleDocument_Masked() {
	doc, _ := identity.Parse("31011519850214002X")
	fmt.Println(doc.Masked())
	fmt.Println(identity.MaskNumber("31011519850214002X"))
	// Output:
	// 3101**********002X
	// 3101**********002X
}
