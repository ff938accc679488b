// The decision guide's client side: re-ranks the options embedded by guide_page.py for the case
// in the form. guide.py is the reference; every function here mirrors the Python one of the same
// name (evaluate, _rank, relation, loose_relation, _capacity, _interpolate, figure, the
// formats), and on load the script checks its answer for the preset cases against the one
// guide.py rendered into the page, saying so on the console and the page if they differ.
// Inlined by guide_page.guide_html(); no network, no library. Runs in browsers and under node (tests).
(function () {
  "use strict";
  var G = {};

  // ---- formats (fmt.py, guide.py, rules.figure)
  function sig(v) {
    if (v === 0) return "0";
    return v.toFixed(Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v)))));
  }
  function fmtNs(v) {
    var units = [["s", 1e9], ["ms", 1e6], ["µs", 1e3]];
    for (var i = 0; i < units.length; i++)
      if (Math.abs(v) >= units[i][1]) return sig(v / units[i][1]) + " " + units[i][0];
    return sig(v) + " ns";
  }
  function fmtSize(b) {
    var units = [["GiB", 1 << 30], ["MiB", 1 << 20], ["KiB", 1 << 10]];
    for (var i = 0; i < units.length; i++)
      if (b >= units[i][1] && b % units[i][1] === 0) return (b / units[i][1]) + " " + units[i][0];
    return b + " B";
  }
  function rate(v) {
    if (v >= 1e6) return sig(v / 1e6) + " M msg/s";
    if (v >= 1e3) return sig(v / 1e3) + " k msg/s";
    return sig(v) + " msg/s";
  }
  function g(v) { // Python's "%g" (6 significant digits), for the budget
    var s = Number(v.toPrecision(6)).toString();
    return s;
  }
  function g3(x) { // Python's "%.3g"
    if (x === 0) return "0";
    var parts = x.toExponential(2).split("e"), e = parseInt(parts[1], 10);
    if (e < -4 || e >= 3) {
      var m = parts[0].replace(/\.?0+$/, "");
      return m + "e" + (e < 0 ? "-" : "+") + (Math.abs(e) < 10 ? "0" : "") + Math.abs(e);
    }
    var f = x.toFixed(Math.max(0, 2 - e));
    return f.indexOf(".") >= 0 ? f.replace(/\.?0+$/, "") : f;
  }
  function figure(f, fmt) {
    var v = f.values;
    if (v.length === 1) return fmt(v[0]) + " (n=1)";
    var lo = fmt(v[0]), hi = fmt(v[v.length - 1]);
    var spread = lo !== hi ? "range " + lo + "–" + hi : "all " + lo;
    return fmt(f.median) + " (median of n=" + v.length + ", " + spread + ")";
  }
  function median(v) {
    var n = v.length, h = Math.floor(n / 2);
    return n % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
  }
  function fig(values, src) {
    var v = values.slice().sort(function (a, b) { return a - b; });
    return { values: v, median: median(v), min: v[0], max: v[v.length - 1], n: v.length,
             src: src === undefined ? null : src };
  }
  function pct(x) { return Math.round(x * 100) + "%"; }

  // ---- noise
  function looseRelation(a, b) {
    if (a.n < G.min_reps || b.n < G.min_reps)
      return ["inconclusive", "inconclusive (n=" + a.n + " vs n=" + b.n + "; a comparison needs " +
              G.min_reps + " repetitions of each)"];
    if (a.min <= b.max && b.min <= a.max)
      return ["same", "no measurable difference (their ranges overlap)"];
    if (Math.min(a.median, b.median) > 0 && Math.abs(a.median / b.median - 1) <= G.equivalence)
      return ["same", "no measurable difference (medians within ±" + pct(G.equivalence) + ")"];
    return ["apart", ""];
  }
  function relation(data, a, b, ia, ib, metric) {
    if (a.src === null || a.src !== b.src) return looseRelation(a, b);
    var table = data.relations[a.src + ":" + metric] || {};
    var found = table[Math.min(ia, ib) + "," + Math.max(ia, ib)];
    if (!found) throw new Error("guide: no precomputed comparison for " + a.src + ":" + metric);
    return found;
  }

  // ---- the rules
  function usable(e) { return !!(e.lat || e.rt || e.tput || e.load.length); }
  function quantile(v, q) { // numpy's default (linear) quantile of sorted v
    var h = (v.length - 1) * q, lo = Math.floor(h), hi = Math.min(lo + 1, v.length - 1);
    return v[lo] + (h - lo) * (v[hi] - v[lo]);
  }
  function valuesAt(x0, v0, x1, v1, x) { // recommend.values_at between two measured points
    var t = (x - x0) / (x1 - x0), m = Math.min(v0.length, v1.length), out = [];
    for (var k = 0; k < m; k++) {
      var q = m === 1 ? 0 : k / (m - 1);
      out.push((1 - t) * quantile(v0, q) + t * quantile(v1, q));
    }
    return out;
  }
  function interpolate(rows, r) {
    if (r <= rows[0].offered) return [rows[0].p99, "at its lowest offered load, " + rate(rows[0].offered)];
    for (var i = 0; i + 1 < rows.length; i++) {
      var lo = rows[i], hi = rows[i + 1];
      if (r === hi.offered) return [hi.p99, "at its offered load " + rate(hi.offered)];
      if (lo.offered < r && r < hi.offered)
        return [fig(valuesAt(lo.offered, lo.p99.values, hi.offered, hi.p99.values, r)),
                "interpolated between its offered loads " + rate(lo.offered) + " and " + rate(hi.offered)];
    }
    var last = rows[rows.length - 1];
    return [last.p99, "at its highest unsaturated load, " + rate(last.offered)];
  }
  function capacity(e, r) {
    if (e.load.length) {
      var kept = e.load.filter(function (row) { return !row.saturated; });
      if (kept.length) {
        var top = kept[kept.length - 1].offered;
        return [fig([top]), "the highest offered load its load curve kept up with, " + rate(top)];
      }
      var lowest = e.load[0].offered;
      if (r !== "max" && r >= lowest)
        return [fig([0]), "its load curve saturated at every offered load, from " + rate(lowest)];
    }
    if (e.tput) return [e.tput, "its one-way stream " + figure(e.tput, rate)];
    if (e.rt) return [e.rt, "round trips/s (no stream measured) " + figure(e.rt, rate)];
    return [null, null];
  }
  function has(reasons, code) { return reasons.some(function (r) { return r[0] === code; }); }

  function evaluate(data, c) {
    var failed = [], passing = [], shown = {}, notes = [], r = c.rate, size = c.size;
    if (c.lang !== "native" && !data.python_measured) notes.push(["no_python", "Python: " + G.no_python + "."]);
    data.options.forEach(function (o, idx) {
      if (c.lang !== "any" && o.lang !== c.lang) return;
      var threadOnly = o.crosses_processes === false;
      if (o.process && threadOnly) return;
      if (c.peer === "thread" && o.process) return;
      if (c.peer === "process" && !o.process && !threadOnly) return;
      var reasons = [], lines = [];
      if (c.peer === "process" && threadOnly)
        reasons.push(["cannot_cross", "cannot cross processes (" + o.transport +
                      " connects threads of one process only)"]);
      if (o.max_msg_bytes !== null && size > o.max_msg_bytes)
        reasons.push(["size_limit", "over the size limit: at most " + fmtSize(o.max_msg_bytes) +
                      " on this machine" + (o.limit_note ? "; " + o.limit_note : "")]);
      var at = null, e = null, sizes = Object.keys(o.sizes);
      for (var k = 0; k < sizes.length; k++) {
        var entry = o.sizes[sizes[k]];
        if (parseInt(sizes[k], 10) >= size && (usable(entry) || entry.error)) {
          at = parseInt(sizes[k], 10); e = entry; break;
        }
      }
      if (e === null) {
        if (!has(reasons, "size_limit")) {
          var largest = sizes.filter(function (s) { return usable(o.sizes[s]); })
                             .map(function (s) { return parseInt(s, 10); });
          reasons.push(["not_measured", "not measured at " + fmtSize(size) + " or larger" +
                        (largest.length ? " (largest measured: " + fmtSize(Math.max.apply(null, largest)) + ")" : "")]);
        }
      } else if (!usable(e)) {
        if (e.size_refused && at !== size) {
          reasons.push(["not_measured", "not measured at " + fmtSize(size) + "; the nearest measured size above, " +
                        fmtSize(at) + ", is over its size limit: " + e.error]);
        } else if (e.size_refused) {
          if (!has(reasons, "size_limit")) reasons.push(["size_limit", "over the size limit: " + e.error]);
        } else {
          reasons.push(["error", "could not run at " + fmtSize(at) + ": " + e.error]);
        }
        e = null;
      }
      if (at !== null && at !== size && e !== null)
        lines.push("measured at " + fmtSize(at) + ", the nearest measured size above " + fmtSize(size));
      var cpu = e ? e.cpu : null;
      if (o.spins) {
        var burn = "";
        if (cpu) {
          burn = ", where the work itself is " + figure(cpu, fmtNs) + " per message";
          if (r !== "max") burn += ", " + g3(cpu.median * r / 1e9) + " of a core at " + rate(r);
        }
        var spin = "spins a core: wait:" + o.wait + " busy-waits the receiver, a whole core at any rate" + burn;
        if (c.cpu !== null && c.cpu < G.spin_cores) reasons.push(["spins", spin]);
        else lines.push(spin);
      } else if (cpu) {
        var work = r !== "max" ? ", " + g3(cpu.median * r / 1e9) + " of a core at " + rate(r) : "";
        lines.push("CPU per message " + figure(cpu, fmtNs) + " (" + e.cpu_src + ")" + work);
      }
      var cap = null, lat = null, how = null;
      if (e !== null) {
        var cs = capacity(e, r), capText = cs[1];
        cap = cs[0];
        var kept = e.load.filter(function (row) { return !row.saturated; });
        if (cap === null) reasons.push(["not_measured", "no throughput measured at " + fmtSize(at)]);
        else if (r !== "max" && cap.median < r)
          reasons.push(["too_slow", "too slow at " + rate(r) + ": " + capText]);
        else lines.push("throughput: " + capText);
        if (kept.length) {
          var li = interpolate(kept, r === "max" ? cap.median : r);
          lat = li[0]; how = "from its load curve " + li[1];
        } else if (e.lat) {
          lat = e.lat; how = "of an unloaded round trip (pingpong)";
        }
        if (lat === null) reasons.push(["not_measured", "no p99 measured at " + fmtSize(at)]);
        else if (c.p99_us !== null && lat.median > c.p99_us * 1e3)
          reasons.push(["p99_over", "p99 over budget: " + figure(lat, fmtNs) + " " + how + ", more than " + g(c.p99_us) + " µs"]);
        else lines.unshift("p99 " + figure(lat, fmtNs) + " " + how);
      }
      if (reasons.length) failed.push({ id: o.id, reasons: reasons });
      else {
        shown[o.id] = lines;
        passing.push({ i: idx, id: o.id, lat: lat, cap: cap, cpu: cpu });
      }
    });
    var groups = rank(data, passing, r === "max");
    if (groups.some(function (x) { return x.undecided; }))
      notes.push(["undecided", "Some options share a rank because their comparison was inconclusive, " +
                  "not because they are alike; " + G.decide_hint + "."]);
    return { groups: groups, failed: failed, notes: notes, shown: shown };
  }

  function cmp(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] < b[i]) return -1;
      if (a[i] > b[i]) return 1;
    }
    return 0;
  }
  function rank(data, passing, byRate) {
    var first = byRate ? "cap" : "lat", higher = byRate, second = byRate ? "lat" : "cpu";
    function med(p, k, sign) { return p[k] ? sign * p[k].median : Infinity; }
    var order = passing.slice().sort(function (a, b) {
      return cmp([med(a, first, higher ? -1 : 1), med(a, second, 1), a.id],
                 [med(b, first, higher ? -1 : 1), med(b, second, 1), b.id]);
    });
    var groups = [];
    order.forEach(function (p) {
      if (groups.length) {
        var grp = groups[groups.length - 1], head = grp.members[0];
        var rel = relation(data, head[first], p[first], head.i, p.i, byRate ? "rate" : "p99");
        if (rel[0] !== "apart") {
          grp.members.push(p); grp.why.push(rel[1]);
          grp.undecided = grp.undecided || rel[0] === "inconclusive";
          return;
        }
      }
      groups.push({ members: [p], why: [], undecided: false });
    });
    return groups.map(function (grp) {
      var members = grp.members.slice().sort(function (a, b) {
        return cmp([med(a, second, 1), a.id], [med(b, second, 1), b.id]);
      });
      return { ids: members.map(function (p) { return p.id; }), head: grp.members[0].id, why: grp.why,
               undecided: grp.undecided };
    });
  }

  function outcome(res) {
    var failed = {};
    res.failed.forEach(function (f) { failed[f.id] = f.reasons.map(function (r) { return r[0]; }); });
    return { groups: res.groups.map(function (x) { return x.ids; }), failed: failed,
             notes: res.notes.map(function (n) { return n[0]; }) };
  }

  // ---- words (guide.case_text, guide.render_html_result)
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
                    .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
  }
  function unique(xs) { return xs.filter(function (x, i) { return xs.indexOf(x) === i; }); }
  function caseText(c) {
    var r = c.rate === "max" ? "the highest rate" : rate(c.rate);
    var p99 = c.p99_us !== null ? "p99 ≤ " + g(c.p99_us) + " µs" : "no p99 budget";
    var cpu = c.cpu === null ? "no limit on spinning" : c.cpu === 0 ? "nothing may spin" : c.cpu + " core(s) may spin";
    var peer = { any: "threads or processes", thread: "threads", process: "processes" }[c.peer];
    var lang = { any: "native or Python", native: "native", python: "Python" }[c.lang];
    return fmtSize(c.size) + " messages at " + r + ", " + p99 + ", " + cpu + ", " + peer + ", " + lang;
  }
  function tieText(byId, grp, c) {
    return "tied within noise: " + grp.ids.length + " options, each against " + byId[grp.head].label +
           ", the " + (c.rate === "max" ? "highest throughput" : "lowest p99") + ": " + unique(grp.why).join("; ");
  }
  function renderHtml(data, c, res) {
    var byId = {};
    data.options.forEach(function (o) { byId[o.id] = o; });
    var h = ["<h3>" + esc(data.machine) + " (" + esc(data.label) + ")</h3>",
             "<p>Case: " + esc(caseText(c)) + ".</p>"];
    if (res.groups.length) {
      h.push('<ol class="ipcm-guide-ranks">');
      res.groups.forEach(function (grp) {
        h.push("<li>" + (grp.ids.length > 1 ? "<i>" + esc(tieText(byId, grp, c)) + "</i>" : ""));
        h.push("<ul>" + grp.ids.map(function (i) {
          return "<li><b>" + esc(byId[i].label) + "</b>: " + esc(res.shown[i].join("; ")) + "</li>";
        }).join("") + "</ul></li>");
      });
      h.push("</ol>");
    } else {
      h.push("<p><b>Nothing measured meets the case.</b></p>");
    }
    if (res.failed.length)
      h.push("<details><summary>Fails the case (" + res.failed.length + ")</summary><ul>" +
             res.failed.map(function (f) {
               return "<li>" + esc(byId[f.id].label) + ": " + esc(f.reasons.map(function (r) { return r[1]; }).join("; ")) + "</li>";
             }).join("") + "</ul></details>");
    res.notes.forEach(function (n) { h.push('<p class="note">' + esc(n[1]) + "</p>"); });
    return h.join("");
  }

  // ---- the case (guide.parse_case)
  var KEYS = ["size", "rate", "p99_us", "cpu", "peer", "lang"];
  function parseCase(text) {
    var c = { size: null, rate: null, p99_us: null, cpu: null, peer: "any", lang: "any" }, seen = {};
    text.split(",").forEach(function (item, i) {
      var eq = item.indexOf("="), key = (eq < 0 ? item : item.slice(0, eq)).trim();
      var value = eq < 0 ? "" : item.slice(eq + 1).trim();
      var where = item.trim() || "empty";
      if (eq < 0 || !key) throw new Error(where + ": expected key=value");
      if (KEYS.indexOf(key) < 0) throw new Error(where + ": unknown key " + key);
      if (seen[key]) throw new Error(where + ": " + key + " given twice");
      seen[key] = true;
      if (key === "peer" || key === "lang") {
        var allowed = key === "peer" ? ["thread", "process", "any"] : ["native", "python", "any"];
        if (allowed.indexOf(value) < 0) throw new Error(key + " must be one of " + allowed.join(" | "));
        c[key] = value; return;
      }
      if (key === "rate" && value === "max") { c.rate = "max"; return; }
      var n = value === "" ? NaN : Number(value);
      if (key === "size" || key === "cpu") {
        if (!isFinite(n) || n !== Math.floor(n) || n < (key === "size" ? 1 : 0))
          throw new Error(key + " must be a whole number" + (key === "size" ? " of bytes >= 1" : " of cores >= 0"));
      } else if (!isFinite(n) || n <= 0) {
        throw new Error(key + (key === "rate" ? " must be messages/s > 0, or max" : " must be microseconds > 0"));
      }
      c[key] = n;
    });
    ["size", "rate"].forEach(function (k) { if (!seen[k]) throw new Error(k + " is required"); });
    return c;
  }

  // ---- the page
  function check(payload) {
    var bad = [];
    payload.files.forEach(function (f) {
      f.presets.forEach(function (p) {
        var res = evaluate(f.data, p.case);
        if (JSON.stringify(outcome(res)) !== JSON.stringify(p.outcome) || renderHtml(f.data, p.case, res) !== p.html)
          bad.push(f.data.label + ", " + p.title);
      });
    });
    return bad;
  }
  function page(doc) {
    var node = doc.getElementById("ipcm-guide-data");
    if (!node) return;
    var payload = JSON.parse(node.textContent), form = doc.getElementById("ipcm-guide-form");
    var out = doc.getElementById("ipcm-guide-out"), err = doc.getElementById("ipcm-guide-error");
    G = payload;
    var bad = check(payload);
    if (bad.length) {
      console.error("ipcmeter guide: the page's script disagrees with the report on: " + bad.join("; "));
      err.hidden = false;
      err.textContent = "This page's interactive guide disagrees with the report for: " + bad.join("; ") +
                        ". The text above is the report's; the form is disabled.";
      Array.prototype.forEach.call(form.elements, function (el) { el.disabled = true; });
      return;
    }
    function update() {
      var parts = [];
      KEYS.forEach(function (k) {
        var v = form.elements[k].value.trim();
        if (v !== "") parts.push(k + "=" + v);
      });
      var c;
      try { c = parseCase(parts.join(",")); } catch (e) {
        err.hidden = false; err.textContent = e.message; return;
      }
      err.hidden = true;
      out.innerHTML = payload.files.map(function (f) {
        return '<div class="ipcm-guide-file">' + renderHtml(f.data, c, evaluate(f.data, c)) + "</div>";
      }).join("");
    }
    Array.prototype.forEach.call(form.querySelectorAll("button[data-case]"), function (b) {
      b.addEventListener("click", function () {
        var c = parseCase(b.getAttribute("data-case"));
        KEYS.forEach(function (k) { form.elements[k].value = c[k] === null ? "" : c[k]; });
        update();
      });
    });
    form.addEventListener("input", update);
    form.addEventListener("change", update);
  }

  var api = { evaluate: evaluate, outcome: outcome, renderHtml: renderHtml, parseCase: parseCase,
              check: check, use: function (payload) { G = payload; } };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else if (typeof document !== "undefined") page(document);
})();
