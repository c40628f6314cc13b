// The lab's markdown reports (the CLI's `--format markdown`) as HTML: tables, bullet lists,
// headings and paragraphs, nothing more. The page shows exactly what the CLI prints, and
// colours the cells that betray the monitor (leaks, misbehaves) or let the guest out.

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Inline markdown the reports use: **bold**, *italic*, `code`. */
function inline(s: string): string {
  return escapeHtml(s)
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/\*([^*]+)\*/g, "<em>$1</em>")
    .replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** The CSS class for a table cell: what the lab says about that configuration. */
export function cellClass(text: string): string {
  const t = text.toLowerCase();
  if (/\bescaped\b|\bescapes\b|\bbreach/.test(t)) return "escaped";
  if (/\bleaks\b/.test(t)) return "leaks";
  if (/\bmisbehaves\b|\bmismatch\b/.test(t)) return "misbehaves";
  if (/\bfaults\b/.test(t)) return "faults";
  if (/\bcontained\b|^same$/.test(t)) return "ok";
  return "";
}

/** Split a table row `| a | b \| c |` into its cells. */
function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

export function markdownToHtml(md: string): string {
  const out: string[] = [];
  const lines = md.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("|")) {
      const head = cells(line);
      i += 1;  // the alignment row
      const rows: string[][] = [];
      while (i + 1 < lines.length && lines[i + 1].startsWith("|")) rows.push(cells(lines[++i]));
      out.push("<div class=\"table-wrap\"><table><thead><tr>" + head.map((h) => `<th>${inline(h)}</th>`).join("") + "</tr></thead><tbody>" +
        rows.map((r) => "<tr>" + r.map((c) => {
          const cls = cellClass(c);
          return `<td${cls ? ` class="${cls}"` : ""}>${inline(c)}</td>`;
        }).join("") + "</tr>").join("") + "</tbody></table></div>");
    } else if (line.startsWith("- ")) {
      const items = [line.slice(2)];
      while (i + 1 < lines.length && lines[i + 1].startsWith("- ")) items.push(lines[++i].slice(2));
      out.push("<ul>" + items.map((t) => `<li>${inline(t)}</li>`).join("") + "</ul>");
    } else if (/^#+ /.test(line)) {
      const level = Math.min(4, line.indexOf(" ") + 2);
      out.push(`<h${level}>${inline(line.replace(/^#+ /, ""))}</h${level}>`);
    } else if (line.trim() !== "") {
      out.push(`<p>${inline(line)}</p>`);
    }
  }
  return out.join("\n");
}
