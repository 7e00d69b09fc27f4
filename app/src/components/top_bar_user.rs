use crate::SignedIn;
use crate::live;
use leptos::prelude::*;

/// Who is signed in, and the way out: a plain form, so it works before hydration too. The server
/// ends the session and redirects to the sign-in page.
#[component]
pub fn TopBarUser(user: SignedIn) -> impl IntoView {
    view! {
        <span class="user" data-testid="signed-in-user">{user.username}</span>
        // The page is about to leave: the socket must not reconnect in the meantime.
        <form method="post" action="/api/auth/logout" class="sign-out" on:submit=|_| live::stop()>
            <button type="submit" data-testid="sign-out">"Sign out"</button>
        </form>
    }
}
