// Applies the theme chosen with the toggle before the page is drawn, so a
// dark page does not flash white. Loaded synchronously in <head>.
(function () {
  try {
    var t = window.localStorage.getItem('regmirror-theme');
    if (t === 'light' || t === 'dark') {
      document.documentElement.setAttribute('data-theme', t);
    }
  } catch (e) {
    // Storage may be unavailable (privacy settings); the system theme applies.
  }
})();
