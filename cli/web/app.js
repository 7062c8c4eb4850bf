/*
 * fleetprof serve: the page's logic, vanilla JavaScript, no dependencies.
 * Every panel is a view of one JSON endpoint under /api/ (the query
 * commands' --format json): /api/top the hotspot table, /api/flame the
 * icicle graph, /api/diff the diff table (and the graph's diff colors),
 * /api/timeline the selected function's timeline, /api/hosts and
 * /api/services the filter suggestions. The window is resolved here once
 * per refresh, so every panel shows the same [from, until). The state is
 * mirrored in location.hash, so a view can be bookmarked or shared.
 * Strings from the API are untrusted: they only ever reach the page as
 * text (textContent, attribute values), never as markup.
 */
"use strict";
(function () {
	/* Script errors and anything the content security policy blocks are
	 * noted on the page, where a test (or a curious user) can read them. */
	const noted = [];
	const note = (what) => {
		noted.push(what);
		document.documentElement.dataset.errors = noted.join("; ");
	};
	window.addEventListener("error", (ev) => note(ev.message));
	window.addEventListener("unhandledrejection", (ev) =>
		note(String(ev.reason)));
	document.addEventListener("securitypolicyviolation", (ev) =>
		note("blocked " + ev.blockedURI + " (" +
			ev.violatedDirective + ")"));

	const TOP_LIMIT = 200;
	const ROW_H = 18;
	const PRESETS = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3,
		"7d": 7 * 86400e3 };
	const SVGNS = "http://www.w3.org/2000/svg";
	/* Module hues; no red or green, which mean slower and faster. */
	const PALETTE = ["#9ec5ea", "#f7cf9c", "#c9b8e8", "#a7dbd5", "#f3e39a",
		"#bfcbd6", "#dccaa6", "#f2bd98"];

	const state = {
		since: "15m", from: "", until: "", host: "", service: "",
		clock: "wall", match: "", sort: "tottime", asc: false,
		tab: "top", base: "1d", color: "module", metric: "tottime",
		fn: null, /* selected function: {name, file, line} */
		gen: 0, top: [], topLoaded: false, diff: null, diffKey: "", flame: null,
		focus: null, timeline: null, win: null,
	};

	const $ = (id) => document.getElementById(id);

	/* ---- formatting: the CLI's (cli_units.c) ---- */

	/* printf's "%.*f": ties of the exact binary value go to even. */
	function fixed(v, p) {
		const m = v * Math.pow(10, p), f = Math.floor(m);
		if (m - f === 0.5)
			return ((f % 2 === 0 ? f : f + 1) /
				Math.pow(10, p)).toFixed(p);
		return v.toFixed(p);
	}

	function dur(s) {
		const ns = s * 1e9;
		if (!(ns >= 0) || !isFinite(ns))
			return "-";
		if (ns === 0)
			return "0s";
		const units = [["ns", 1], ["\u00b5s", 1e3], ["ms", 1e6]];
		for (const [suffix, u] of units) {
			const v = ns / u;
			if (v >= 999.5)
				continue;
			return fixed(v, v < 9.995 ? 2 : v < 99.95 ? 1 : 0) +
				suffix;
		}
		return fixed(ns / 1e9, 3) + "s";
	}

	function delta(s) {
		return (s > 0 ? "+" : s < 0 ? "-" : "") + dur(Math.abs(s));
	}

	function ncalls(n, p) {
		return n === p ? String(n) : n + "/" + p;
	}

	function label(f) {
		if (f.file && f.line > 0)
			return f.function + " (" + f.file + ":" + f.line + ")";
		if (f.file)
			return f.function + " (" + f.file + ")";
		if (f.module)
			return f.function + " (" + f.module + ")";
		return f.function;
	}

	function fnKey(f) {
		return f.function + "\u0000" + f.file + "\u0000" + f.line;
	}

	function iso(ms) {
		return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
	}

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined)
			e.textContent = text;
		return e;
	}

	function svg(tag, attrs) {
		const e = document.createElementNS(SVGNS, tag);
		for (const k in attrs)
			e.setAttribute(k, attrs[k]);
		return e;
	}

	/* A cell "name (file:line)" with the location muted. */
	function fnCell(td, f) {
		const full = label(f), cut = full.indexOf(" (");
		td.className = "fn";
		td.title = full;
		if (cut < 0) {
			td.textContent = full;
			return;
		}
		td.append(full.slice(0, cut), el("span", "file",
			full.slice(cut)));
	}

	/* ---- the API ---- */

	class ApiError extends Error {
		constructor(status, msg, hint) {
			super(msg);
			this.status = status;
			this.hint = hint || "";
		}
	}

	async function api(name, params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params)) {
			if (v === undefined || v === null || v === "")
				continue;
			q.append(k, String(v));
		}
		let res, body;
		try {
			res = await fetch("/api/" + name + "?" + q.toString(),
				{ headers: { Accept: "application/json" } });
		} catch (e) {
			throw new ApiError(0, "the server does not answer",
				"is fleetprof serve still running?");
		}
		try {
			body = await res.json();
		} catch (e) {
			throw new ApiError(res.status, "bad response from " +
				"/api/" + name + " (" + res.status + ")", "");
		}
		if (!res.ok)
			throw new ApiError(res.status, body.error, body.hint);
		return body;
	}

	/* Window and filters, as every endpoint takes them. */
	function common() {
		const p = { from: state.win.from, until: state.win.until,
			clock: state.clock };
		if (state.host)
			p.host = state.host;
		if (state.service)
			p.service = state.service;
		return p;
	}

	function resolveWindow() {
		if (state.from || state.until)
			return { from: state.from || undefined,
				until: state.until || undefined,
				text: (state.from || "15m before until") +
					" .. " + (state.until || "now") };
		const now = Date.now();
		const w = { from: iso(now - PRESETS[state.since]),
			until: iso(now) };
		w.text = w.from + " .. " + w.until + "  (last " +
			state.since + ")";
		return w;
	}

	/* ---- errors and status ---- */

	/* One line per distinct message, naming the panels it hit. */
	const errors = new Map();

	function showError(where, e) {
		const key = e.message + "\u0000" + (e.hint || "");
		const seen = errors.get(key) || [];
		if (!seen.includes(where))
			seen.push(where);
		errors.set(key, seen);
		const box = $("error");
		box.replaceChildren();
		for (const [k, wheres] of errors) {
			const [msg, hint] = k.split("\u0000");
			const line = el("div", null, wheres.join(", ") + ": " +
				msg);
			if (hint)
				line.append(el("span", "hint", hint));
			box.append(line);
		}
		box.hidden = false;
	}

	function clearErrors() {
		errors.clear();
		$("error").hidden = true;
	}

	/* A panel whose query failed shows nothing rather than stale data. */
	function failed(where, gen) {
		return (e) => {
			if (gen !== state.gen)
				return;
			showError(where, e);
			if (where === "hotspots") {
				state.top = [];
				state.topLoaded = false;
				renderTop();
			} else if (where === "call paths") {
				state.flame = null;
				state.focus = null;
				renderFlame();
				renderCrumbs();
				$("flame-info").textContent = "";
			} else if (where === "timeline") {
				state.timeline = null;
				renderTimeline();
				$("tl-foot").textContent = "";
			} else if (where === "diff") {
				state.diff = null;
				renderDiff();
			}
		};
	}

	/* ---- hotspot table ---- */

	const SORT_KEYS = { ncalls: (r) => r.ncalls,
		tottime: (r) => r.tottime_s,
		percall: (r) => r.ncalls ? r.tottime_s / r.ncalls : -1,
		cumtime: (r) => r.cumtime_s,
		cumpercall: (r) => r.pcalls ? r.cumtime_s / r.pcalls : -1,
		hosts: (r) => r.hosts, name: (r) => r.function };
	/* Keys the server ranks by (so a truncated list is the true top). */
	const SERVER_SORTS = ["ncalls", "tottime", "percall", "cumtime",
		"cumpercall"];

	async function loadTop(gen) {
		const p = common();
		p.limit = TOP_LIMIT;
		p.sort = SERVER_SORTS.includes(state.sort) ? state.sort
			: "tottime";
		if (state.match)
			p.match = state.match;
		const rows = await api("top", p);
		if (gen !== state.gen)
			return;
		state.top = rows;
		state.topSort = p.sort;
		state.topLoaded = true;
		renderTop();
	}

	function sortedTop() {
		const key = SORT_KEYS[state.sort], rows = state.top.slice();
		const dir = state.asc ? 1 : -1;
		rows.sort((a, b) => {
			const x = key(a), y = key(b);
			if (x < y)
				return -dir;
			if (x > y)
				return dir;
			return a.function < b.function ? -1 : 1;
		});
		return rows;
	}

	function renderTop() {
		const body = $("top-table").tBodies[0];
		const rows = sortedTop();
		const total = state.top.reduce((a, r) => a + r.tottime_s, 0);
		const most = state.top.reduce((a, r) => Math.max(a, r.tottime_s),
			0);
		body.replaceChildren();
		for (const th of $("top-table").tHead.rows[0].cells) {
			th.classList.toggle("sorted",
				th.dataset.key === state.sort);
			th.classList.toggle("asc", state.asc);
		}
		for (const r of rows) {
			const tr = el("tr");
			const tot = el("td", "num share", dur(r.tottime_s));
			/* A bar behind tottime, the largest full width. */
			tot.style.setProperty("--share", (most > 0 ?
				100 * r.tottime_s / most : 0).toFixed(1) + "%");
			tr.append(el("td", "num", ncalls(r.ncalls, r.pcalls)),
				tot,
				el("td", "num", r.ncalls ?
					dur(r.tottime_s / r.ncalls) : "-"),
				el("td", "num", dur(r.cumtime_s)),
				el("td", "num", r.pcalls ?
					dur(r.cumtime_s / r.pcalls) : "-"),
				el("td", "num", String(r.hosts)));
			const fn = el("td");
			fnCell(fn, r);
			tr.append(fn);
			tr.dataset.fn = r.function;
			if (state.fn && fnKey(r) === fnKey(state.fn))
				tr.classList.add("sel");
			tr.addEventListener("click", () => select(r));
			body.append(tr);
		}
		if (rows.length === 0 && state.topLoaded) {
			const tr = el("tr"), td = el("td", "empty",
				"no calls recorded in this window");
			td.colSpan = 7;
			tr.append(td);
			body.append(tr);
		}
		$("table-foot").textContent = state.tab !== "top" ||
			!state.topLoaded ? "" :
			rows.length + " function" + (rows.length === 1 ? "" :
			"s") + (rows.length >= TOP_LIMIT ? " (the top " +
			TOP_LIMIT + " by " + state.topSort + ")" : "") +
			"; total tottime " + dur(total) +
			"; click a row for its timeline";
	}

	function sortBy(key) {
		if (state.sort === key) {
			state.asc = !state.asc;
		} else {
			state.sort = key;
			state.asc = key === "name";
		}
		saveHash();
		const complete = state.top.length < TOP_LIMIT;
		if (!complete && SERVER_SORTS.includes(key) &&
		    key !== state.topSort && !state.asc)
			loadTop(state.gen).catch(failed("hotspots", state.gen));
		else
			renderTop();
	}

	/* ---- diff ---- */

	async function loadDiff(gen) {
		const p = common();
		p["base-offset"] = state.base;
		p.limit = 0;
		if (state.match)
			p.match = state.match;
		const key = JSON.stringify(p);
		if (state.diff && state.diffKey === key)
			return;
		const rows = await api("diff", p);
		if (gen !== state.gen)
			return;
		state.diff = rows;
		state.diffKey = key;
		renderDiff();
		if (state.color === "diff")
			renderFlame();
	}

	function renderDiff() {
		const body = $("diff-table").tBodies[0];
		body.replaceChildren();
		if (!state.diff)
			return; /* loading */
		const rows = state.diff;
		for (const r of rows) {
			const tr = el("tr", r.change_s > 0 ? "slower" :
				r.change_s < 0 ? "faster" : "");
			const p0 = r.base_ncalls ? r.base_tottime_s /
				r.base_ncalls : NaN;
			const p1 = r.ncalls ? r.tottime_s / r.ncalls : NaN;
			tr.append(el("td", "num change", delta(r.change_s)),
				el("td", "num", delta(r.calls_part_s)),
				el("td", "num", delta(r.percall_part_s)),
				el("td", "num", dur(r.base_tottime_s) + " \u2192 " +
					dur(r.tottime_s)),
				el("td", "num", r.base_ncalls + " \u2192 " +
					r.ncalls),
				el("td", "num", dur(p0) + " \u2192 " + dur(p1)),
				el("td", "status", r.status));
			const fn = el("td");
			fnCell(fn, r);
			tr.append(fn);
			tr.dataset.fn = r.function;
			if (state.fn && fnKey(r) === fnKey(state.fn))
				tr.classList.add("sel");
			tr.addEventListener("click", () => select(r));
			body.append(tr);
		}
		if (rows.length === 0) {
			const tr = el("tr"), td = el("td", "empty",
				"no changes against the base window");
			td.colSpan = 8;
			tr.append(td);
			body.append(tr);
		}
		if (state.tab === "diff") {
			const up = rows.filter((r) => r.change_s > 0).length;
			const down = rows.filter((r) => r.change_s < 0).length;
			$("table-foot").textContent = up + " slower, " + down +
				" faster than " + $("base-offset").selectedOptions[0]
					.textContent + "; change = calls part " +
				"(more or fewer calls) + per-call part";
		}
	}

	/* ---- icicle graph ---- */

	function buildTree(roots) {
		const root = { function: "all", file: "", line: 0,
			module: "", ncalls: 0, self_s: 0, total_s: 0,
			children: [], parent: null, depth: 0 };
		const adopt = (n, parent) => {
			n.parent = parent;
			n.depth = parent.depth + 1;
			for (const c of n.children)
				adopt(c, n);
		};
		for (const r of roots) {
			adopt(r, root);
			root.children.push(r);
			root.ncalls += r.ncalls;
			root.total_s += r.total_s;
		}
		return root;
	}

	async function loadFlame(gen) {
		const p = common();
		/* A path under 0.01% of the total is a tenth of a pixel wide
		 * until zoomed in; leaving such paths out keeps a big fleet's
		 * graph small. */
		p["min-percent"] = 0.01;
		const roots = await api("flame", p);
		if (gen !== state.gen)
			return;
		const old = state.focus ? pathOf(state.focus) : [];
		state.flame = buildTree(roots);
		state.focus = findPath(state.flame, old);
		renderFlame();
	}

	function pathOf(n) {
		const p = [];
		for (; n && n.parent; n = n.parent)
			p.unshift(fnKey(n));
		return p;
	}

	/* The node at path (keys from the root), or the deepest that exists. */
	function findPath(root, path) {
		let n = root;
		for (const k of path) {
			const c = n.children.find((x) => fnKey(x) === k);
			if (!c)
				break;
			n = c;
		}
		return n;
	}

	function hash(s) {
		let h = 2166136261;
		for (let i = 0; i < s.length; i++)
			h = Math.imul(h ^ s.charCodeAt(i), 16777619);
		return h >>> 0;
	}

	function diffIndex() {
		const m = new Map();
		let max = 0;
		for (const r of state.diff || []) {
			m.set(fnKey(r), r);
			max = Math.max(max, Math.abs(r.change_s));
		}
		return { m, max };
	}

	function frameColor(n, di) {
		if (!n.parent)
			return "#dfe3e8";
		if (state.color !== "diff")
			return PALETTE[hash(n.module || n.file || n.function) %
				PALETTE.length];
		const r = di.m.get(fnKey(n));
		if (!r || r.change_s === 0 || di.max === 0)
			return "#dfe3e8";
		const k = Math.sqrt(Math.abs(r.change_s) / di.max);
		const light = 88 - 30 * k;
		return r.change_s > 0 ? "hsl(3, 75%, " + light + "%)"
			: "hsl(135, 50%, " + light + "%)";
	}

	const measure = document.createElement("canvas").getContext("2d");

	/* text cut with an ellipsis to fit width px (11px sans). */
	function fit(text, width) {
		measure.font = "11px system-ui, -apple-system, \"Segoe UI\", " +
			"\"DejaVu Sans\", sans-serif";
		if (width < 14)
			return "";
		if (measure.measureText(text).width <= width)
			return text;
		let lo = 0, hi = text.length;
		while (lo < hi) {
			const mid = (lo + hi + 1) >> 1;
			if (measure.measureText(text.slice(0, mid) + "\u2026")
				.width <= width)
				lo = mid;
			else
				hi = mid - 1;
		}
		return lo > 0 ? text.slice(0, lo) + "\u2026" : "";
	}

	function renderFlame() {
		const box = $("flame");
		box.replaceChildren();
		const root = state.flame;
		if (!root)
			return;
		if (root.children.length === 0) {
			box.append(el("div", "empty",
				"no call paths recorded in this window"));
			renderCrumbs();
			return;
		}
		const focus = state.focus || root;
		const W = Math.max(200, box.clientWidth - 12);
		const chain = [];
		for (let n = focus; n; n = n.parent)
			chain.unshift(n);
		const frames = [];
		chain.forEach((n, i) => frames.push({ n, x: 0, w: W, d: i,
			anc: n !== focus }));
		const scale = focus.total_s > 0 ? W / focus.total_s : 0;
		let maxD = chain.length - 1;
		const walk = (n, x, w, d) => {
			let cx = x;
			for (const c of n.children) {
				const cw = Math.min(c.total_s * scale, x + w - cx);
				if (cw >= 0.5) {
					frames.push({ n: c, x: cx, w: cw, d });
					maxD = Math.max(maxD, d);
					walk(c, cx, cw, d + 1);
				}
				cx += Math.max(cw, 0);
			}
		};
		walk(focus, 0, W, chain.length);
		const H = (maxD + 1) * ROW_H;
		const s = svg("svg", { width: W, height: H,
			viewBox: "0 0 " + W + " " + H, role: "img",
			"aria-label": "icicle graph of the call paths" });
		const di = diffIndex();
		const selKey = state.fn ? fnKey(state.fn) : null;
		for (const f of frames) {
			const g = svg("g", { transform: "translate(" + f.x + "," +
				f.d * ROW_H + ")" });
			g.setAttribute("class", "frame" + (f.anc ? " anc" : "") +
				(selKey && f.n.parent && fnKey(f.n) === selKey ?
					" sel" : ""));
			g.dataset.name = f.n.function;
			g.dataset.depth = String(f.d);
			g.append(svg("rect", { width: Math.max(f.w, 0.5),
				height: ROW_H - 1, fill: frameColor(f.n, di) }));
			const t = fit(f.n.function, f.w - 8);
			if (t) {
				const tx = svg("text", { x: 4, y: 12.5 });
				tx.textContent = t;
				g.append(tx);
			}
			g.addEventListener("click", () => zoom(f.n));
			g.addEventListener("mousemove", (ev) =>
				tip(ev, frameTip(f.n, focus, root)));
			g.addEventListener("mouseleave", untip);
			s.append(g);
		}
		box.append(s);
		renderCrumbs();
		const pct = root.total_s > 0 ? 100 * focus.total_s /
			root.total_s : 0;
		$("flame-info").textContent = focus === root ?
			"all call paths: " + dur(root.total_s) + " in " +
			root.children.length + " entry function" +
			(root.children.length === 1 ? "" : "s") +
			"; click a frame to zoom in" :
			label(focus) + ": " + dur(focus.total_s) + " total (" +
			pct.toFixed(1) + "% of all), " + dur(focus.self_s) +
			" self, " + focus.ncalls + " calls on this path; a " +
			"crumb or Esc zooms out";
	}

	function frameTip(n, focus, root) {
		if (!n.parent)
			return "all call paths\ntotal " + dur(n.total_s);
		const r = state.color === "diff" ? diffIndex().m.get(fnKey(n))
			: null;
		return label(n) + "\ncalls   " + n.ncalls + "\ntotal   " +
			dur(n.total_s) + "  (" + (100 * n.total_s /
			(root.total_s || 1)).toFixed(1) + "% of all, " +
			(100 * n.total_s / (focus.total_s || 1)).toFixed(1) +
			"% of view)\nself    " + dur(n.self_s) +
			(r ? "\nchange  " + delta(r.change_s) + " (" + r.status +
				", tottime)" : "");
	}

	function renderCrumbs() {
		const nav = $("crumbs");
		nav.replaceChildren();
		if (!state.flame)
			return;
		const chain = [];
		for (let n = state.focus || state.flame; n; n = n.parent)
			chain.unshift(n);
		chain.forEach((n, i) => {
			if (i > 0)
				nav.append(el("span", "sep", "\u203a"));
			const b = el("button", "crumb", n.function);
			b.type = "button";
			b.title = n.parent ? label(n) : "every call path";
			b.addEventListener("click", () => zoom(n));
			nav.append(b);
		});
	}

	function zoom(n) {
		state.focus = n;
		untip();
		renderFlame();
		saveHash();
		if (n.parent)
			select(n);
	}

	/* ---- timeline ---- */

	async function loadTimeline(gen) {
		if (!state.fn) {
			$("tl-fn").textContent = "";
			$("timeline").replaceChildren(el("div", "empty",
				"select a function in the table or the graph"));
			return;
		}
		const p = common();
		p.function = state.fn.function;
		const rows = await api("timeline", p);
		if (gen !== state.gen)
			return;
		state.timeline = rows;
		renderTimeline();
	}

	const METRICS = {
		tottime: { get: (r) => r.tottime_s, fmt: dur },
		cumtime: { get: (r) => r.cumtime_s, fmt: dur },
		ncalls: { get: (r) => r.ncalls, fmt: (v) => String(Math.round(v)) },
		percall: { get: (r) => r.ncalls ? r.tottime_s / r.ncalls : 0,
			fmt: dur },
	};

	/* The axis top: 1, 2, 4, 6 or 8 times a power of ten, at least v. */
	function niceMax(v) {
		if (!(v > 0))
			return 0;
		const p = Math.pow(10, Math.floor(Math.log10(v)));
		for (const m of [1, 2, 4, 6, 8, 10])
			if (m * p >= v * (1 - 1e-9))
				return m * p;
		return 10 * p;
	}

	function clock(t) {
		return t.slice(11, 16);
	}

	function renderTimeline() {
		const box = $("timeline");
		box.replaceChildren();
		$("tl-fn").textContent = state.fn ? label(state.fn) : "";
		const rows = state.timeline || [];
		if (rows.length === 0)
			return;
		const m = METRICS[state.metric];
		const W = Math.max(240, box.clientWidth - 16), H = 230;
		const L = 58, R = 8, T = 10, B = 36;
		const pw = W - L - R, ph = H - T - B;
		const top = Math.max(...rows.map(m.get), 0);
		/* Whole calls on the axis: at least 4 for 4 gridlines. */
		const max = niceMax(state.metric === "ncalls" && top > 0 ?
			Math.max(top, 4) : top);
		const s = svg("svg", { width: W, height: H,
			viewBox: "0 0 " + W + " " + H, role: "img",
			"aria-label": "timeline of " + state.fn.function });
		for (let i = 0; i <= 4; i++) {
			const y = T + ph - ph * i / 4;
			s.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y,
				class: i ? "grid-l" : "axis" }));
			const t = svg("text", { x: L - 6, y: y + 4,
				"text-anchor": "end" });
			/* "4.500s" reads as 4.5s on an axis. */
			t.textContent = max > 0 ? m.fmt(max * i / 4).replace(
				/\.(\d*?)0+(?=[a-z\u00b5]+$)/,
				(x, d) => d ? "." + d : "") : i ? "" : "0";
			s.append(t);
		}
		const bw = pw / rows.length;
		let calls = 0, tt = 0;
		rows.forEach((r, i) => {
			const v = m.get(r), h = max > 0 ? ph * v / max : 0;
			calls += r.ncalls;
			tt += r.tottime_s;
			const b = svg("rect", { x: L + i * bw + (bw > 4 ? 1 : 0),
				y: T + ph - h, width: Math.max(bw - (bw > 4 ? 2 : 0),
					0.5), height: Math.max(h, v > 0 ? 1 : 0),
				class: "bar-v" });
			b.dataset.time = r.time;
			b.dataset.ncalls = String(r.ncalls);
			b.addEventListener("mousemove", (ev) => tip(ev, r.time +
				"\ncalls   " + ncalls(r.ncalls, r.pcalls) +
				"\ntottime " + dur(r.tottime_s) + "\npercall " +
				(r.ncalls ? dur(r.tottime_s / r.ncalls) : "-") +
				"\ncumtime " + dur(r.cumtime_s)));
			b.addEventListener("mouseleave", untip);
			s.append(b);
		});
		const ticks = Math.min(rows.length, Math.max(2,
			Math.floor(pw / 90)));
		const multiDay = rows.length > 1 && rows[0].time.slice(0, 10) !==
			rows[rows.length - 1].time.slice(0, 10);
		for (let k = 0; k < ticks; k++) {
			const i = ticks === 1 ? 0 : Math.round(k * (rows.length -
				1) / (ticks - 1));
			/* Narrow bars: the outer labels stay inside the plot. */
			const edge = bw < 60 && ticks > 1 ? (k === 0 ? "start" :
				k === ticks - 1 ? "end" : "") : "";
			const x = edge === "start" ? L + i * bw : edge === "end" ?
				L + (i + 1) * bw : L + (i + 0.5) * bw;
			const t = svg("text", { x, y: H - B + 16,
				"text-anchor": edge || "middle" });
			t.textContent = multiDay ? rows[i].time.slice(5, 10) + " " +
				clock(rows[i].time) : clock(rows[i].time);
			s.append(t);
		}
		const u = svg("text", { x: W - R, y: H - 4, "text-anchor": "end" });
		u.textContent = "UTC, " + rows.length + " steps";
		s.append(u);
		box.append(s);
		$("tl-foot").textContent = calls + " calls, " + dur(tt) +
			" tottime in the window" + (calls ? ", " +
			dur(tt / calls) + " per call" : "");
	}

	/* ---- tooltip ---- */

	function tip(ev, text) {
		const t = $("tip");
		t.textContent = text;
		t.hidden = false;
		const x = Math.min(ev.clientX + 14, window.innerWidth -
			t.offsetWidth - 8);
		const y = ev.clientY + 16 + t.offsetHeight > window.innerHeight ?
			ev.clientY - t.offsetHeight - 8 : ev.clientY + 16;
		t.style.left = Math.max(4, x) + "px";
		t.style.top = y + "px";
	}

	function untip() {
		$("tip").hidden = true;
	}

	/* ---- selection, refresh, controls ---- */

	function select(f) {
		state.fn = { function: f.function, file: f.file, line: f.line,
			module: f.module };
		saveHash();
		for (const id of ["top-table", "diff-table"])
			for (const tr of $(id).tBodies[0].rows)
				tr.classList.toggle("sel", tr.dataset.fn ===
					f.function && tr.cells.length > 1 &&
					tr.lastChild.title === label(f));
		for (const g of document.querySelectorAll(".frame"))
			g.classList.toggle("sel", g.dataset.name === f.function &&
				Number(g.dataset.depth) > 0 &&
				!g.classList.contains("anc"));
		loadTimeline(state.gen).catch(failed("timeline", state.gen));
	}

	function setReady(ready) {
		document.documentElement.dataset.state = ready ? "ready" :
			"loading";
		$("status").textContent = ready ? "" : "loading\u2026";
	}

	async function refresh() {
		const gen = ++state.gen;
		clearErrors();
		setReady(false);
		state.win = resolveWindow();
		state.diff = null;
		$("window").textContent = "window " + state.win.text +
			"; " + state.clock + " clock" +
			(state.host ? "; host " + state.host : "") +
			(state.service ? "; service " + state.service : "");
		const jobs = [
			loadTop(gen).catch(failed("hotspots", gen)),
			loadFlame(gen).catch(failed("call paths", gen)),
			loadSuggestions(gen),
		];
		if (state.tab === "diff" || state.color === "diff")
			jobs.push(loadDiff(gen).catch(failed("diff", gen)));
		await Promise.all(jobs);
		if (gen !== state.gen)
			return;
		if (!state.fn && state.top.length > 0)
			state.fn = state.top[0];
		else if (state.fn && !state.fn.file) {
			/* From a link (#fn=name): the row of that name. */
			const row = state.top.find((r) => r.function ===
				state.fn.function);
			if (row)
				state.fn = row;
		}
		await loadTimeline(gen).catch(failed("timeline", gen));
		if (gen === state.gen) {
			renderTop();
			if (state.tab === "diff")
				renderDiff();
			setReady(true);
		}
	}

	async function loadSuggestions(gen) {
		const p = { from: state.win.from, until: state.win.until };
		for (const [name, list, key] of [["hosts", "hosts", "host"],
			["services", "services", "service"]]) {
			try {
				const rows = await api(name, p);
				if (gen !== state.gen)
					return;
				$(list).replaceChildren(...rows.map((r) => {
					const o = el("option");
					o.value = r[key];
					return o;
				}));
			} catch (e) {
				/* The ledger is a nicety; the panels report
				 * a database error already. */
			}
		}
	}

	function setTab(tab) {
		state.tab = tab;
		for (const b of document.querySelectorAll(".tabs button"))
			b.classList.toggle("on", b.dataset.tab === tab);
		$("top-table").hidden = tab !== "top";
		$("diff-table").hidden = tab !== "diff";
		$("base-label").hidden = tab !== "diff" && state.color !== "diff";
		saveHash();
		if (!state.win)
			return; /* before the first refresh */
		if (tab === "diff") {
			renderDiff();
			loadDiff(state.gen).catch(failed("diff", state.gen));
		} else {
			renderTop();
		}
	}

	function setPreset(since) {
		state.since = since;
		state.from = state.until = "";
		$("from").value = $("until").value = "";
		for (const b of $("presets").children)
			b.classList.toggle("on", b.dataset.since === since &&
				!state.from && !state.until);
	}

	function readControls() {
		state.from = $("from").value.trim();
		state.until = $("until").value.trim();
		state.host = $("host").value.trim();
		state.service = $("service").value.trim();
		state.clock = $("clock").value;
		state.match = $("match").value.trim();
		for (const b of $("presets").children)
			b.classList.toggle("on", b.dataset.since === state.since &&
				!state.from && !state.until);
	}

	function saveHash() {
		const p = new URLSearchParams();
		const put = (k, v, dflt) => {
			if (v && v !== dflt)
				p.set(k, v);
		};
		put("since", state.since, "15m");
		put("from", state.from);
		put("until", state.until);
		put("host", state.host);
		put("service", state.service);
		put("clock", state.clock, "wall");
		put("match", state.match);
		put("sort", state.sort, "tottime");
		put("tab", state.tab, "top");
		put("base", state.base, "1d");
		put("color", state.color, "module");
		put("metric", state.metric, "tottime");
		if (state.fn)
			p.set("fn", state.fn.function);
		const path = state.focus ? pathOf(state.focus) : [];
		if (path.length)
			p.set("zoom", path.map((k) => k.split("\u0000")[0])
				.join(";"));
		history.replaceState(null, "", "#" + p.toString());
	}

	function loadHash() {
		const p = new URLSearchParams(location.hash.slice(1));
		const get = (k, d) => p.get(k) || d;
		state.since = PRESETS[get("since")] ? get("since") : "15m";
		state.from = get("from", "");
		state.until = get("until", "");
		state.host = get("host", "");
		state.service = get("service", "");
		state.clock = get("clock", "wall");
		state.match = get("match", "");
		state.sort = SORT_KEYS[get("sort")] ? get("sort") : "tottime";
		state.tab = get("tab", "top") === "diff" ? "diff" : "top";
		state.base = get("base", "1d");
		state.color = get("color", "module") === "diff" ? "diff"
			: "module";
		state.metric = METRICS[get("metric")] ? get("metric")
			: "tottime";
		if (p.get("fn"))
			state.fn = { function: p.get("fn"), file: "", line: 0,
				module: "" };
		$("from").value = state.from;
		$("until").value = state.until;
		$("host").value = state.host;
		$("service").value = state.service;
		$("clock").value = state.clock;
		$("match").value = state.match;
		$("base-offset").value = state.base;
		$("flame-color").value = state.color;
		$("tl-metric").value = state.metric;
	}

	function init() {
		loadHash();
		readControls(); /* and marks the preset, if one is in use */
		for (const b of $("presets").children)
			b.addEventListener("click", () => {
				setPreset(b.dataset.since);
				readControls();
				saveHash();
				refresh();
			});
		/* "change": on Enter, on leaving a changed field, on a pick
		 * from the host and service suggestions. */
		for (const id of ["from", "until", "host", "service", "match",
			"clock"])
			$(id).addEventListener("change", () => {
				readControls();
				saveHash();
				refresh();
			});
		$("refresh").addEventListener("click", () => {
			readControls();
			saveHash();
			refresh();
		});
		for (const th of $("top-table").tHead.rows[0].cells)
			th.addEventListener("click", () => sortBy(th.dataset.key));
		for (const b of document.querySelectorAll(".tabs button"))
			b.addEventListener("click", () => setTab(b.dataset.tab));
		$("base-offset").addEventListener("change", () => {
			state.base = $("base-offset").value;
			saveHash();
			loadDiff(state.gen).catch(failed("diff", state.gen));
		});
		$("flame-color").addEventListener("change", () => {
			state.color = $("flame-color").value;
			$("legend").hidden = state.color !== "diff";
			$("base-label").hidden = state.tab !== "diff" &&
				state.color !== "diff";
			saveHash();
			if (state.color === "diff")
				loadDiff(state.gen).catch(failed("diff",
					state.gen));
			renderFlame();
		});
		$("tl-metric").addEventListener("change", () => {
			state.metric = $("tl-metric").value;
			saveHash();
			renderTimeline();
		});
		document.addEventListener("keydown", (ev) => {
			if (ev.key === "Escape" && state.flame &&
			    ev.target.tagName !== "INPUT")
				zoom(state.flame);
		});
		let resizing = 0;
		window.addEventListener("resize", () => {
			clearTimeout(resizing);
			resizing = setTimeout(() => {
				renderFlame();
				renderTimeline();
			}, 120);
		});
		$("legend").hidden = state.color !== "diff";
		setTab(state.tab);
		const zoomPath = new URLSearchParams(location.hash.slice(1))
			.get("zoom");
		refresh().then(() => {
			if (!zoomPath || !state.flame)
				return;
			let n = state.flame;
			for (const name of zoomPath.split(";")) {
				const c = n.children.find((x) => x.function === name);
				if (!c)
					break;
				n = c;
			}
			state.focus = n;
			renderFlame();
		});
	}

	init();
})();
