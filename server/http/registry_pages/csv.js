// One CSV cell. A text starting with =, +, -, @, a tab or a carriage return would be run as a formula by
// the spreadsheet that opens the file (a record's value written by one user, exported by another), so it
// gets a leading single quote, which spreadsheets show as text: the rule of the server's own CSV export
// (services/system/csv_export.py). Numbers stay numbers, negative ones included.

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
