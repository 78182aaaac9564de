/**
 * Copies text for the user. Where the browser refuses (no permission, no secure context), the
 * element showing the text is selected instead, so Ctrl-C or the long-press menu copies it.
 * Returns the note to show next to the button.
 */
export async function copyText(text: string, shownIn?: HTMLElement | null): Promise<string> {
  try {
    if (!navigator.clipboard) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    return 'Copied.';
  } catch {
    if (shownIn) {
      const range = document.createRange();
      range.selectNodeContents(shownIn);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
    }
    return 'This browser did not let the page copy: the text is selected, copy it with Ctrl-C (⌘-C).';
  }
}
