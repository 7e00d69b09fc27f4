use leptos::prelude::*;

/// The sign-in page: a plain HTML form, so it works before (and without) the WebAssembly. The
/// server answers the post with a redirect: to the dashboard, or back here with `?error=1` (or
/// `?error=disabled`).
#[component]
pub fn SignInForm() -> impl IntoView {
    let (_, query) = crate::address();
    // `?error=disabled`: the password was right, but the account is switched off.
    let message = crate::query_value(&query, "error").map(|error| match error {
        "disabled" => "This account is disabled; ask an operator",
        _ => "Wrong username or password",
    });

    view! {
        <section class="panel sign-in" aria-labelledby="sign-in-title">
            <h2 id="sign-in-title">"Sign in"</h2>
            {message.map(|message| view! {
                <p class="sign-in-error" role="alert" data-testid="sign-in-error">{message}</p>
            })}
            <form method="post" action="/api/auth/login" data-testid="sign-in-form">
                <label for="username">"Username"</label>
                <input
                    id="username"
                    name="username"
                    type="text"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    maxlength="256"
                    required
                    autofocus
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    maxlength="256"
                    required
                />
                <button type="submit">"Sign in"</button>
            </form>
        </section>
    }
}
