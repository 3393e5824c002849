package api

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/trustid-cn/trustid/login"

	"golang.org/x/text/language"
)

// loginText is the text of the login pages (login, waiting, ended,
// logged out) in one language. The pages are in English or Simplified
// Chinese, as the request's ui_locales or else the browser's
// Accept-Language prefers (pageText, pageTextFor).
type loginText struct {
	Lang, Title string
	// Other is the other language's tag, and Switch the link to it,
	// written in that language.
	Other, Switch string
	// LoginTo goes before the party's name in the heading.
	LoginTo, For         string
	Scan, AssuranceAsked string
	// SharedBefore and SharedAfter go around the party's name before the
	// claims it asks for.
	SharedBefore, SharedAfter string
	QRAlt, OpenApp, Continue  string
	Waiting, Expired          string
	// The waiting page without JavaScript: its heading, what to do, and
	// the link that checks again.
	WaitingH1, NotYet, CheckAgain string
	// More time (WCAG 2.2 SC 2.2.1): the button; the login page's
	// warnings before the session ends ({s}: seconds left), with the
	// button and without it (the last extension was used); what an
	// extension gave ({m}: minutes), that none is left, that it failed;
	// and, on the waiting page, that the phone has answered already.
	MoreTime, Warning, LastWarning               string
	Extended, NoMoreTime, ExtendFailed, Answered string
	// NewCode is the button that starts the same login again once it has
	// expired, and ExpiredNew the login page's message then.
	NewCode, ExpiredNew         string
	Ended, EndedMessage         string
	LoggedOut, LoggedOutMessage string
	// LoggedOutNoReturn words a logout whose way back to the site
	// (post_logout_redirect_uri) is not registered: the login is ended.
	LoggedOutNoReturn string
	// LogoutFailed and LogoutFailedMessage word a refused logout.
	LogoutFailed, LogoutFailedMessage string
	Unavailable                       string
	UnavailableMessage                string
	// Failed heads the ended page for a login refused for another
	// reason: Errors has the message of each error code the page
	// explains, Generic is the message of any other, and ErrorCode goes
	// before the code shown with them.
	Failed, Generic, ErrorCode string
	Errors                     map[string]string
	Claims                     map[string]string // claim name → label
	// Purposes words each login.Purpose action: a format of the objects
	// (joined by ObjectSep) and the party they come from.
	Purposes  map[string]string
	ObjectSep string
}

var loginTexts = map[string]*loginText{
	"en": {
		Lang: "en", Title: "TrustID login", Other: "zh-CN", Switch: "中文",
		LoginTo: "Log in to ", For: "For: ",
		Scan: "Scan with the TrustID app and approve. ", AssuranceAsked: "Assurance asked: ",
		SharedBefore: "Shared with ", SharedAfter: " if you agree: ",
		QRAlt: "login QR code", OpenApp: "Open the TrustID app on this phone", Continue: "I have approved — continue",
		Waiting: "Waiting for approval…", Expired: "This login expired. Go back to the site you were logging in to and start again.",
		WaitingH1: "Waiting for approval", NotYet: "The login is not approved yet. Scan the code with the TrustID app and approve, then press “I have approved — check again”.",
		CheckAgain:          "I have approved — check again",
		MoreTime:            "More time",
		Warning:             "This login ends in {s} seconds. If you need longer, press “More time”.",
		LastWarning:         "This login ends in {s} seconds and cannot be extended again.",
		Extended:            "Time extended: the login now waits about {m} min.",
		NoMoreTime:          "This login cannot be extended again. Approve it before it ends, or go back to the site and start again.",
		ExtendFailed:        "The time could not be extended. Press “More time” to try again.",
		Answered:            "Your phone has already answered this login. Press “I have approved — check again” to go on.",
		NewCode:             "Get a new code",
		ExpiredNew:          "This login expired. Press “Get a new code” to start it again here.",
		Ended:               "This login has ended",
		EndedMessage:        "It was completed, refused, or it expired. Go back to the site you were logging in to and start again.",
		LoggedOut:           "You are logged out",
		LoggedOutMessage:    "The site that sent you here has ended your TrustID login. You can close this page.",
		LoggedOutNoReturn:   "The site that sent you here has ended your TrustID login, but the address it asked to send you back to is not registered, so you stay on this page. You can close it.",
		LogoutFailed:        "The logout was not accepted",
		LogoutFailedMessage: "The site that sent you here asked to log you out, but its request was not valid. Go back to the site and log out there again.",
		Unavailable:         "Login unavailable",
		UnavailableMessage:  "The login service is unavailable right now. Try again in a moment.",
		Failed:              "This login cannot go on",
		Generic:             "Something went wrong with this login. Go back to the site you were logging in to and start again.",
		ErrorCode:           "Error code: ",
		Errors: map[string]string{
			login.CodeAccessDenied:    "The login was refused. Go back to the site you were logging in to and start again.",
			login.CodeInvalidClient:   "The site that sent you here is not registered for TrustID login, or no longer is. Go back to it and tell its operator.",
			login.CodeApprovalRefused: "The approval was refused. Go back to the site you were logging in to and start again.",
			login.CodeInvalidRequest:  "The request to log in was not valid. Go back to the site you were logging in to and start again.",
			login.CodeLoginRequired:   "You need to log in first. Go back to the site you were logging in to and start again.",
			CodeRateLimited:           "Too many attempts. Wait a moment, then try again.",
		},
		Claims:    map[string]string{"age_over_18": "aged 18 or over", "age_over_60": "aged 60 or over"},
		Purposes:  map[string]string{login.PurposeReceive: "receive %[1]s from %[2]s"},
		ObjectSep: ", ",
	},
	"zh-CN": {
		Lang: "zh-CN", Title: "TrustID 登录", Other: "en", Switch: "English",
		LoginTo: "登录 ", For: "用途：",
		Scan: "请用 TrustID 应用扫码并确认。", AssuranceAsked: "要求的保障等级：",
		SharedBefore: "经您同意，将向 ", SharedAfter: " 提供：",
		QRAlt: "登录二维码", OpenApp: "在本机打开 TrustID 应用", Continue: "我已确认，继续",
		Waiting: "等待确认…", Expired: "本次登录已过期。请回到您要登录的网站重新开始。",
		WaitingH1: "等待确认", NotYet: "登录尚未确认。请用 TrustID 应用扫码并确认，然后按“我已确认，再次检查”。",
		CheckAgain:          "我已确认，再次检查",
		MoreTime:            "延长时间",
		Warning:             "本次登录将在 {s} 秒后过期。如需更多时间，请按“延长时间”。",
		LastWarning:         "本次登录将在 {s} 秒后过期，且不能再延长。",
		Extended:            "已延长时间：登录还将等待约 {m} 分钟。",
		NoMoreTime:          "本次登录不能再延长。请在过期前确认，或回到网站重新开始。",
		ExtendFailed:        "未能延长时间。请按“延长时间”重试。",
		Answered:            "您已在手机上作出答复。请按“我已确认，再次检查”继续。",
		NewCode:             "获取新的二维码",
		ExpiredNew:          "本次登录已过期。请按“获取新的二维码”在此重新开始。",
		Ended:               "本次登录已结束",
		EndedMessage:        "登录已完成、被拒绝或已过期。请回到您要登录的网站重新开始。",
		LoggedOut:           "您已退出登录",
		LoggedOutMessage:    "将您转到此处的网站已结束您的 TrustID 登录。您可以关闭本页。",
		LoggedOutNoReturn:   "将您转到此处的网站已结束您的 TrustID 登录，但它请求返回的地址未登记，因此您留在本页。您可以关闭本页。",
		LogoutFailed:        "退出登录未被接受",
		LogoutFailedMessage: "将您转到此处的网站请求让您退出登录，但请求无效。请回到该网站重新退出登录。",
		Unavailable:         "登录暂不可用",
		UnavailableMessage:  "登录服务暂时不可用，请稍后再试。",
		Failed:              "本次登录无法继续",
		Generic:             "本次登录出现问题。请回到您要登录的网站重新开始。",
		ErrorCode:           "错误代码：",
		Errors: map[string]string{
			login.CodeAccessDenied:    "登录已被拒绝。请回到您要登录的网站重新开始。",
			login.CodeInvalidClient:   "将您转到此处的网站未在 TrustID 登记或已被停用。请回到该网站并告知其运营方。",
			login.CodeApprovalRefused: "确认未通过。请回到您要登录的网站重新开始。",
			login.CodeInvalidRequest:  "登录请求无效。请回到您要登录的网站重新开始。",
			login.CodeLoginRequired:   "请先登录。请回到您要登录的网站重新开始。",
			CodeRateLimited:           "尝试次数过多，请稍候再试。",
		},
		Claims:    map[string]string{"age_over_18": "已满 18 周岁", "age_over_60": "已满 60 周岁"},
		Purposes:  map[string]string{login.PurposeReceive: "从 %[2]s 领取 %[1]s"},
		ObjectSep: "、",
	},
}

// loginLanguages matches the login pages' languages, login.UILocales,
// whose first (English) is the answer when the browser names neither.
var loginLanguages = language.NewMatcher(func() []language.Tag {
	tags := make([]language.Tag, len(login.UILocales))
	for i, l := range login.UILocales {
		tags[i] = language.MustParse(l)
	}
	return tags
}())

// pageText picks the login pages' language: the first supported one the
// request's ui_locales names (OpenID Connect Core §3.1.2.1, RP-Initiated
// Logout §2: the relying party's choice; the pages' links carry the
// page's language on in it), else the one the browser's Accept-Language
// prefers (RFC 9110 §12.5.4): Chinese when the browser prefers it, else
// English. It marks the response as varying with the header.
func pageText(w http.ResponseWriter, r *http.Request) *loginText {
	var uiLocales string
	if strings.Contains(r.URL.RawQuery, "ui_locales=") {
		uiLocales = r.URL.Query().Get("ui_locales")
	}
	return pageTextFor(w, r, uiLocales)
}

// pageTextFor is pageText for the ui_locales given instead of the URL's:
// a login's own, which for a pushed authorization request is the pushed
// one (RFC 9126 §4: the pushed parameters are the request).
func pageTextFor(w http.ResponseWriter, r *http.Request, uiLocales string) *loginText {
	w.Header().Add("Vary", "Accept-Language")
	t := uiLocalesText(uiLocales)
	if t == nil {
		t = matchText(r.Header.Get("Accept-Language"))
	}
	w.Header().Set("Content-Language", t.Lang)
	return t
}

// maxUILocales is how many tags of ui_locales are looked at: a longer
// list names its first choices first.
const maxUILocales = 8

// uiLocalesText is the text of the first of uiLocales (a space-separated
// list of BCP 47 tags, in order of preference) whose language the pages
// have, or close to it (zh-TW gets Chinese); nil for none.
func uiLocalesText(uiLocales string) *loginText {
	tags := strings.Fields(uiLocales)
	for _, s := range tags[:min(len(tags), maxUILocales)] {
		tag, err := language.Parse(s)
		if err != nil {
			continue
		}
		if _, i, c := loginLanguages.Match(tag); c != language.No {
			return textAt(i)
		}
	}
	return nil
}

// textAt is the text of loginLanguages' i-th language.
func textAt(i int) *loginText {
	return loginTexts[login.UILocales[i]]
}

// Browsers send few distinct Accept-Language values, and matching one
// costs microseconds and a few dozen allocations, so answers are cached:
// a value of at most langKeyMax bytes is kept in one of langCacheMax
// slots, chosen by its hash, replacing the value that was there. The
// cache holds at most langCacheMax values whatever arrives, and junk
// values only evict: a browser's value, asked for again, takes its slot
// back at once (a cache that kept its first langCacheMax values and
// then stopped was filled for good by junk). Longer values are matched
// each time.
const (
	langCacheMax = 512
	langKeyMax   = 256
)

// langEntry is one cached answer.
type langEntry struct {
	accept string
	t      *loginText
}

var (
	langSlots [langCacheMax]atomic.Pointer[langEntry]
	langSeed  = maphash.MakeSeed()
)

// matchText returns the login text for an Accept-Language value.
func matchText(accept string) *loginText {
	var slot *atomic.Pointer[langEntry]
	if len(accept) <= langKeyMax {
		slot = &langSlots[maphash.String(langSeed, accept)%langCacheMax]
		if e := slot.Load(); e != nil && e.accept == accept {
			return e.t
		}
	}
	_, i := language.MatchStrings(loginLanguages, accept)
	t := textAt(i)
	if slot != nil {
		slot.Store(&langEntry{accept: strings.Clone(accept), t: t})
	}
	return t
}

// claimLabels are the labels of claims in t's language; a claim without
// one shows its name.
func (t *loginText) claimLabels(claims []string) []string {
	out := make([]string, len(claims))
	for i, c := range claims {
		if l, ok := t.Claims[c]; ok {
			out[i] = l
		} else {
			out[i] = c
		}
	}
	return out
}

// purpose words p in t's language; "" for none, or for an action t does
// not word (no other language's words on the page).
func (t *loginText) purpose(p *login.Purpose) string {
	if p == nil {
		return ""
	}
	f, ok := t.Purposes[p.Action]
	if !ok {
		return ""
	}
	return fmt.Sprintf(f, strings.Join(p.Objects, t.ObjectSep), p.From)
}
