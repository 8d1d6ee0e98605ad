package schemas

// AppendEvent appends ev as a v1 event JSON object: the envelope, then the
// fields of its type. Optional fields at their zero value are left out. It is
// what the simulator, the bench harness and tests produce, and what the
// decoder reads back unchanged.
func AppendEvent(dst []byte, ev *Event) []byte {
	w := objWriter{b: dst}
	w.open()
	w.int("v", Version)
	w.strs("type", ev.Type.String())
	w.str("session", ev.Session)
	if len(ev.Visitor) > 0 {
		w.str("visitor", ev.Visitor)
	}
	if len(ev.Site) > 0 {
		w.str("site", ev.Site)
	}
	w.int("ts", ev.TS)
	if ev.Bot {
		w.bool("bot", true)
	}
	if ev.Page.Kind != KindNone {
		w.key("page")
		w.b = appendPage(w.b, ev.Page)
	}
	switch ev.Type {
	case TypePageView:
		if len(ev.Ref) > 0 {
			w.str("ref", ev.Ref)
		}
	case TypeIdle:
		w.int("ms", ev.MS)
	case TypeVisibility:
		w.strs("state", ev.Visibility.String())
	case TypeMouse:
		w.int("ms", ev.MS)
		w.int("moves", ev.Moves)
		w.int("dir_changes", ev.DirChanges)
		w.int("clicks", ev.Clicks)
		w.int("rage_clicks", ev.RageClicks)
		w.int("dead_clicks", ev.DeadClicks)
	case TypeScroll:
		// Shortest exact form (-1): a rounded depth would not decode back
		// to the Event it came from.
		w.float("depth", ev.Depth, -1)
		if ev.ScrollDir != ScrollNone {
			w.strs("dir", ev.ScrollDir.String())
		}
	case TypeForm:
		if len(ev.Form) > 0 {
			w.str("form", ev.Form)
		}
		if len(ev.Field) > 0 {
			w.str("field", ev.Field)
		}
		w.strs("action", ev.FormAction.String())
	case TypeCart:
		w.strs("action", ev.CartAction.String())
		w.int("value", ev.Value)
		w.int("items", ev.Items)
	case TypeCheckout:
		w.int("step", ev.Step)
	case TypePurchase:
		w.int("value", ev.Value)
		if ev.Items > 0 {
			w.int("items", ev.Items)
		}
	case TypeChat:
		w.strs("action", ev.ChatAction.String())
	}
	w.close()
	return w.b
}

func appendPage(dst []byte, p Page) []byte {
	w := objWriter{b: dst}
	w.open()
	w.str("url", p.URL)
	w.strs("kind", p.Kind.String())
	w.close()
	return w.b
}
