/**
 * @module A chunk's stylesheet (xterm's, uPlot's), added to the page once, when the chunk
 * that needs it loads: the first page does not carry it.
 */
export function addStylesheet(name: string, href: string): void {
  if (document.querySelector(`link[data-sheet="${name}"]`)) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = href;
  link.dataset.sheet = name;
  document.head.append(link);
}
