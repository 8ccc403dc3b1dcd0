using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

/// <summary>A session belongs to the owner its request names; the manager hides it from everyone else.</summary>
public sealed class SessionOwnerTests(SessionFixture fixture) : IClassFixture<SessionFixture>
{
    private SessionManager Sessions => fixture.Engine.Sessions;

    [Fact(Timeout = 60000)]
    public async Task A_session_is_found_listed_and_deleted_only_by_its_owner()
    {
        var session = await Sessions.CreateAsync(new SessionRequest { Owner = "alice" });
        try
        {
            Assert.Equal("alice", session.Owner);
            Assert.Equal("alice", session.Describe().Owner);
            Assert.Same(session, Sessions.Get(session.Id, "alice"));
            Assert.Contains(Sessions.List("alice"), s => s.Id == session.Id);

            foreach (var other in new[] { "bob", null })
            {
                var hidden = Assert.Throws<CordonException>(() => Sessions.Get(session.Id, other));
                var missing = Assert.Throws<CordonException>(() => Sessions.Get("s000000000000000000000000", other));
                Assert.Equal(CordonErrorCode.SessionNotFound, hidden.Code);
                // Exactly like a missing one, so a guess learns nothing.
                Assert.Equal(missing.Message.Replace("s000000000000000000000000", session.Id, StringComparison.Ordinal), hidden.Message);
                Assert.DoesNotContain(Sessions.List(other), s => s.Id == session.Id);
                Assert.Equal(CordonErrorCode.SessionNotFound, (await Assert.ThrowsAsync<CordonException>(() => Sessions.DeleteAsync(session.Id, other))).Code);
            }

            // The refused deletes left it alive and usable.
            Assert.Equal("2", (await Sessions.Get(session.Id, "alice").RunCellAsync(new CellRequest { Code = "1+1" })).Value);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id, "alice");
        }
        Assert.Equal(CordonErrorCode.SessionNotFound, Assert.Throws<CordonException>(() => Sessions.Get(session.Id, "alice")).Code);
    }

    [Fact(Timeout = 10000)]
    public async Task An_empty_owner_is_refused_with_the_other_problems()
    {
        var error = await Assert.ThrowsAsync<CordonException>(() => Sessions.CreateAsync(new SessionRequest { Owner = "", Languages = ["cobol"] }));

        Assert.Equal(CordonErrorCode.InvalidRequest, error.Code);
        Assert.Contains("owner must not be empty (null for none)", error.Errors);
        Assert.Contains(error.Errors, e => e.Contains("'cobol'", StringComparison.Ordinal));
    }
}
