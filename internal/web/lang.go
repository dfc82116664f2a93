package web

import (
	"net/http"
	"strconv"
	"strings"
)

// lang is a page language.
type lang string

const (
	langEN lang = "en"
	langZH lang = "zh"
)

// langCookie remembers a language chosen with ?lang=.
const langCookie = "regmirror-lang"

func parseLang(s string) (lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "en" || strings.HasPrefix(s, "en-"):
		return langEN, true
	case s == "zh" || strings.HasPrefix(s, "zh-"):
		return langZH, true
	}
	return "", false
}

// language picks the page language: ?lang= (remembered in a cookie), then
// the cookie, then Accept-Language, then English.
func (h *Handler) language(w http.ResponseWriter, r *http.Request) lang {
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, HttpOnly: true})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(c.Value); ok {
			return l
		}
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage returns the supported language with the highest q value
// in an Accept-Language header (earlier wins a tie), or English.
func acceptLanguage(header string) lang {
	best, bestQ := langEN, -1.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		l, ok := parseLang(tag)
		if !ok {
			continue
		}
		q := 1.0
		if v, found := strings.CutPrefix(strings.TrimSpace(params), "q="); found {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}
