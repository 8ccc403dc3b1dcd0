using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cordon.Server.FunctionalTests;

/// <summary>
/// Malformed input against a real server: every case gets the status it deserves, a body that says why in the
/// endpoint's own error shape, and never a 500 or a stack trace.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class MalformedInputTests(ServerFixture fixture)
{
    private const string Piston = "api/v2/execute";
    private const string Native = "v1/executions";

    /// <summary>One request and what it must get.</summary>
    /// <param name="Endpoint">The path.</param>
    /// <param name="Body">The body bytes.</param>
    /// <param name="ContentType">The Content-Type; null for none.</param>
    /// <param name="Status">The status it must get.</param>
    /// <param name="Message">For Piston, the exact message when it is Piston's own; null to check only the shape.</param>
    /// <param name="Chunked">Send without Content-Length.</param>
    /// <param name="Origin">An Origin header, as a browser sends.</param>
    public sealed record Case(string Endpoint, byte[] Body, string? ContentType, HttpStatusCode Status, string? Message = null, bool Chunked = false, string? Origin = null);

    private static readonly Dictionary<string, Case> Cases = BuildCases();

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Cases.Keys) data.Add(name);
        return data;
    }

    [Theory(Timeout = 120_000)]
    [MemberData(nameof(CaseNames))]
    public async Task Malformed_input_gets_a_clear_4xx_and_never_a_500(string name)
    {
        var c = Cases[name];
        using var response = await SendAsync(c);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True((int)response.StatusCode < 500, $"{name}: {(int)response.StatusCode}\n{text}");
        Assert.True(c.Status == response.StatusCode, $"{name}: expected {(int)c.Status}, got {(int)response.StatusCode}\n{Clip(text)}");
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        if ((int)c.Status < 400) return;
        using var body = JsonDocument.Parse(text);
        if (c.Endpoint == Piston)
        {
            // Every refusal on the Piston endpoint, the server-wide body limit's 413 included, is Piston's shape.
            var message = body.RootElement.GetProperty("message").GetString();
            Assert.False(string.IsNullOrWhiteSpace(message));
            if (c.Message is not null) Assert.Equal(c.Message, message);
        }
        else
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.False(string.IsNullOrWhiteSpace(body.RootElement.GetProperty("title").GetString()), text);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Case c)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, c.Endpoint);
        HttpContent content = c.Chunked ? new StreamContent(new MemoryStream(c.Body)) : new ByteArrayContent(c.Body);
        if (c.ContentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.ContentType);
        if (c.Chunked) request.Headers.TransferEncodingChunked = true;
        if (c.Origin is not null) request.Headers.Add("Origin", c.Origin);
        // A server refusing an oversized body answers before reading it and closes the connection; a client still
        // uploading may then see the connection end instead of the 413. Asking first, as curl does for large
        // bodies, lets the 413 arrive before the body is sent.
        if (c.Body.Length > ServerFixture.MaxRequestBodyBytes) request.Headers.ExpectContinue = true;
        request.Content = content;
        return await fixture.Server.Http.SendAsync(request);
    }

    [Fact(Timeout = 120_000)]
    public async Task Non_utf8_program_output_comes_back_with_replacement_characters_through_piston()
    {
        var body = PistonBody();
        body["files"]![0]!["content"] = "import sys\nsys.stdout.buffer.write(bytes([0xff, 0xfe, 0x41, 0x0a]))";
        using var response = await fixture.Server.Http.PostAsync(Piston, Json(body));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var run = JsonDocument.Parse(text).RootElement.GetProperty("run");
        Assert.Equal("\uFFFD\uFFFDA\n", run.GetProperty("stdout").GetString());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("status").ValueKind);
    }

    [Fact(Timeout = 120_000)]
    public async Task Non_utf8_program_output_comes_back_intact_through_v1()
    {
        var body = NativeBody();
        body["files"]![0]!["content"] = "import sys\nsys.stdout.buffer.write(bytes([0xff, 0xfe, 0x41, 0x0a]))";
        using var response = await fixture.Server.Http.PostAsync(Native, Json(body));
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(HttpStatusCode.OK == response.StatusCode, text);
        // /v1 sends output that is not UTF-8 as base64, so the bytes survive.
        Assert.Contains(Convert.ToBase64String([0xff, 0xfe, 0x41, 0x0a]), text, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_server_is_healthy_after_the_malformed_suite()
    {
        foreach (var name in Cases.Keys.Where(n => n.Contains("deep", StringComparison.Ordinal) || n.Contains("huge", StringComparison.Ordinal)))
        {
            using var response = await SendAsync(Cases[name]);
            Assert.True((int)response.StatusCode is >= 400 and < 500, name);
        }
        using var health = await fixture.Server.Http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var ok = await fixture.Server.Http.PostAsync(Piston, Json(PistonBody()));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    private static Dictionary<string, Case> BuildCases()
    {
        var cases = new Dictionary<string, Case>(StringComparer.Ordinal);
        const string json = "application/json";
        var huge = new string('x', ServerFixture.MaxRequestBodyBytes + 1024);
        var deepArrays = new string('[', 10_000) + new string(']', 10_000);
        var deepObjects = string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_000);

        foreach (var (endpoint, tag, make) in new (string, string, Func<JsonObject>)[] { (Piston, "piston", PistonBody), (Native, "v1", NativeBody) })
        {
            var isPiston = endpoint == Piston;
            void Add(string name, Case c) => cases[$"{tag}: {name}"] = c;
            void AddJson(string name, JsonNode? body, HttpStatusCode status, string? message = null) =>
                Add(name, new Case(endpoint, Encoding.UTF8.GetBytes(body?.ToJsonString() ?? "null"), json, status, message));
            void AddRaw(string name, string body, HttpStatusCode status, string? contentType = json) =>
                Add(name, new Case(endpoint, Encoding.UTF8.GetBytes(body), contentType, status));
            JsonObject With(Action<JsonObject> change)
            {
                var body = make();
                change(body);
                return body;
            }

            // Size and shape of the document itself.
            var big = make();
            big["files"]![0]!["content"] = huge;
            Add("huge body", new Case(endpoint, Encoding.UTF8.GetBytes(big.ToJsonString()), json, HttpStatusCode.RequestEntityTooLarge));
            Add("huge body, chunked", new Case(endpoint, Encoding.UTF8.GetBytes(big.ToJsonString()), json, HttpStatusCode.RequestEntityTooLarge, Chunked: true));
            AddRaw("deep arrays (10000)", deepArrays, HttpStatusCode.BadRequest);
            AddRaw("deep objects (10000)", deepObjects, HttpStatusCode.BadRequest);
            AddRaw("deep value in a field", make().ToJsonString()[..^1] + ",\"x\":" + deepArrays + "}", HttpStatusCode.BadRequest);
            AddRaw("empty body", "", HttpStatusCode.BadRequest);
            AddRaw("truncated JSON", "{\"language\":", HttpStatusCode.BadRequest);
            AddRaw("trailing garbage", make().ToJsonString() + " x", HttpStatusCode.BadRequest);
            AddRaw("comment", "{/* c */" + make().ToJsonString()[1..], HttpStatusCode.BadRequest);
            AddRaw("duplicate key", make().ToJsonString()[..^1] + ",\"language\":\"ruby\"}", HttpStatusCode.BadRequest);
            AddRaw("JSON null", "null", HttpStatusCode.BadRequest);
            AddRaw("JSON true", "true", HttpStatusCode.BadRequest);
            AddRaw("JSON number", "42", HttpStatusCode.BadRequest);
            AddRaw("JSON string", "\"print(1)\"", HttpStatusCode.BadRequest);
            AddRaw("array instead of object", "[" + make().ToJsonString() + "]", HttpStatusCode.BadRequest);
            AddRaw("lone surrogate escape", make().ToJsonString().Replace("print(1)", "print(1)\\ud800", StringComparison.Ordinal), HttpStatusCode.BadRequest);
            var invalidUtf8 = Encoding.UTF8.GetBytes(make().ToJsonString().Replace("print(1)", "print(1)#@", StringComparison.Ordinal));
            invalidUtf8[Array.IndexOf(invalidUtf8, (byte)'@')] = 0xff;
            Add("invalid UTF-8 in a string", new Case(endpoint, invalidUtf8, json, HttpStatusCode.BadRequest));

            // Content types.
            AddRaw("form content type", "language=python", HttpStatusCode.UnsupportedMediaType, "application/x-www-form-urlencoded");
            AddRaw("xml content type", "<a/>", HttpStatusCode.UnsupportedMediaType, "application/xml");
            AddRaw("octet-stream content type", make().ToJsonString(), HttpStatusCode.UnsupportedMediaType, "application/octet-stream");
            AddRaw("no content type", make().ToJsonString(), HttpStatusCode.UnsupportedMediaType, null);

            // Wrong types in every field.
            var fields = isPiston
                ? new[] { "language", "version", "files", "stdin", "args", "compile_timeout", "run_timeout", "compile_cpu_time", "run_cpu_time", "compile_memory_limit", "run_memory_limit" }
                : new[] { "language", "version", "files", "stdin", "stdin_encoding", "args", "run_limits", "compile_limits", "network" };
            foreach (var field in fields)
            {
                foreach (var (kind, value) in WrongValues(field, isPiston))
                    AddJson($"{field} as {kind}", With(b => b[field] = value?.DeepClone()), HttpStatusCode.BadRequest, PistonMessage(isPiston, field));
            }
            foreach (var field in new[] { "name", "content", "encoding" })
            {
                foreach (var (kind, value) in new (string, JsonNode?)[] { ("number", 1), ("true", true), ("object", new JsonObject()), ("array", new JsonArray()) })
                    AddJson($"files[0].{field} as {kind}", With(b => b["files"]![0]![field] = value?.DeepClone()), HttpStatusCode.BadRequest,
                        isPiston && field == "content" ? "files[0].content is required as a string" : null);
            }
            AddJson("files[0] as a string", With(b => b["files"]![0] = "print(1)"), HttpStatusCode.BadRequest, isPiston ? "files[0].content is required as a string" : null);
            AddJson("files[0] as an array", With(b => b["files"]![0] = new JsonArray("print(1)")), HttpStatusCode.BadRequest, isPiston ? "files[0].content is required as a string" : null);
            AddJson("files[0] as null", With(b => b["files"]![0] = null), HttpStatusCode.BadRequest, isPiston ? "files[0].content is required as a string" : null);
            AddJson("args[0] as a number", With(b => b["args"] = new JsonArray(1)), HttpStatusCode.BadRequest);
            AddJson("args[0] as null", With(b => b["args"] = new JsonArray((JsonNode?)null)), HttpStatusCode.BadRequest);
            AddJson("missing language", With(b => b.Remove("language")), HttpStatusCode.BadRequest, isPiston ? "language is required as a string" : null);
            AddJson("missing files", With(b => b.Remove("files")), HttpStatusCode.BadRequest, isPiston ? "files is required as an array" : null);
            AddJson("no files", With(b => b["files"] = new JsonArray()), HttpStatusCode.BadRequest, isPiston ? "files must include at least one utf8 encoded file" : null);
            AddJson("too many files", With(b => b["files"] = new JsonArray(Enumerable.Range(0, 300)
                .Select(i => (JsonNode)new JsonObject { ["name"] = $"f{i}.py", ["content"] = "" }).ToArray())), HttpStatusCode.BadRequest);
            AddJson("unknown language", With(b => b["language"] = "klingon"), HttpStatusCode.BadRequest, isPiston ? "klingon-3 runtime is unknown" : null);
            AddJson("a 100 KB language", With(b => b["language"] = new string('p', 100_000)), HttpStatusCode.BadRequest);
            AddJson("unknown field", With(b => b["priority"] = "high"),
                // Piston ignores fields it does not know, and so does its compatible API; /v1 is strict.
                isPiston ? HttpStatusCode.OK : HttpStatusCode.BadRequest);

            // File names.
            foreach (var (kind, name) in new[]
            {
                ("../x", "../x"), ("/etc/passwd", "/etc/passwd"), ("NUL", "a\0b"), ("very long", new string('n', 5000)),
                ("a//b", "a//b"), (".", "."), ("a/../../b", "a/../../b"), ("trailing slash", "dir/"), ("deeply nested", string.Join('/', Enumerable.Repeat("d", 40))),
            })
            {
                AddJson($"file name {kind}", With(b => b["files"]![0]!["name"] = name), HttpStatusCode.BadRequest);
            }
            AddJson("two files with one name", With(b => b["files"]!.AsArray().Add(new JsonObject { ["name"] = "main.py", ["content"] = "" })), HttpStatusCode.BadRequest);
            AddJson("invalid base64", With(b => b["files"]!.AsArray().Add(new JsonObject { ["name"] = "data.bin", ["content"] = "!!not base64!!", ["encoding"] = "base64" })), HttpStatusCode.BadRequest);
            AddJson("unknown encoding", With(b => b["files"]![0]!["encoding"] = "utf-16"), HttpStatusCode.BadRequest);
            if (isPiston)
            {
                AddJson("invalid hex", With(b => b["files"]!.AsArray().Add(new JsonObject { ["name"] = "data.bin", ["content"] = "abc", ["encoding"] = "hex" })), HttpStatusCode.BadRequest);
                AddJson("only a base64 file", With(b => b["files"]![0]!["encoding"] = "base64"), HttpStatusCode.BadRequest, "files must include at least one utf8 encoded file");
                AddJson("run_timeout above the configured limit", With(b => b["run_timeout"] = 10_000_000), HttpStatusCode.BadRequest, "run_timeout cannot exceed the configured limit of 10000");
                AddJson("run_cpu_time negative", With(b => b["run_cpu_time"] = -5), HttpStatusCode.BadRequest, "run_cpu_time must be non-negative");
                AddJson("run_memory_limit -2", With(b => b["run_memory_limit"] = -2), HttpStatusCode.BadRequest, "run_memory_limit must be non-negative");
                AddJson("run_memory_limit -1 is the configured limit", With(b => b["run_memory_limit"] = -1), HttpStatusCode.OK);
                AddJson("run_timeout 1e400", With(b => b["run_timeout"] = JsonNode.Parse("1e400")), HttpStatusCode.BadRequest, "run_timeout cannot exceed the configured limit of 10000");
                AddJson("run_timeout -1e400", With(b => b["run_timeout"] = JsonNode.Parse("-1e400")), HttpStatusCode.BadRequest, "run_timeout must be non-negative");
                AddJson("run_memory_limit below what a jail needs", With(b => b["run_memory_limit"] = 1000), HttpStatusCode.BadRequest);
                Add("text/plain from a browser (Origin)", new Case(endpoint, Encoding.UTF8.GetBytes(make().ToJsonString()), "text/plain;charset=UTF-8",
                    HttpStatusCode.UnsupportedMediaType, "requests must be of type application/json", Origin: "http://example.invalid"));
                Add("text/plain without Origin (piston-client)", new Case(endpoint, Encoding.UTF8.GetBytes(make().ToJsonString()), "text/plain;charset=UTF-8", HttpStatusCode.OK));
            }
            else
            {
                AddJson("missing file name", With(b => b["files"]![0]!.AsObject().Remove("name")), HttpStatusCode.BadRequest);
                AddJson("wall_time_ms above the configured limit", With(b => b["run_limits"] = new JsonObject { ["wall_time_ms"] = 10_000_000 }), HttpStatusCode.BadRequest);
                AddJson("unknown field in run_limits", With(b => b["run_limits"] = new JsonObject { ["gpu"] = 1 }), HttpStatusCode.BadRequest);
            }
        }
        return cases;
    }

    // Values of the wrong type for a field, all truthy in JavaScript (Piston skips falsy limits as "not given").
    private static IEnumerable<(string Kind, JsonNode? Value)> WrongValues(string field, bool isPiston)
    {
        var expectsString = field is "language" or "version" or "stdin" or "stdin_encoding";
        var expectsNumber = isPiston && (field.EndsWith("_timeout", StringComparison.Ordinal) || field.EndsWith("_cpu_time", StringComparison.Ordinal) || field.EndsWith("_memory_limit", StringComparison.Ordinal));
        if (!expectsString) yield return ("string", "x");
        if (!expectsNumber) yield return ("number", 12);
        if (field != "network") yield return ("true", true);
        if (field is not ("run_limits" or "compile_limits")) yield return ("object", new JsonObject { ["a"] = 1 });
        if (field is not ("files" or "args")) yield return ("array", new JsonArray(1));
    }

    private static string? PistonMessage(bool isPiston, string field) => !isPiston ? null : field switch
    {
        "language" => "language is required as a string",
        "version" => "version is required as a string",
        "files" => "files is required as an array",
        _ when field.Contains("time", StringComparison.Ordinal) || field.Contains("memory", StringComparison.Ordinal) => $"If specified, {field} must be a number",
        _ => null,
    };

    private static JsonObject PistonBody() => new()
    {
        ["language"] = "python",
        ["version"] = "3",
        ["files"] = new JsonArray(new JsonObject { ["name"] = "main.py", ["content"] = "print(1)" }),
        ["stdin"] = "",
        ["args"] = new JsonArray("a"),
    };

    private static JsonObject NativeBody() => new()
    {
        ["language"] = "python",
        ["version"] = "3",
        ["files"] = new JsonArray(new JsonObject { ["name"] = "main.py", ["content"] = "print(1)" }),
        ["stdin"] = "",
        ["args"] = new JsonArray("a"),
    };

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static string Clip(string text) => text.Length <= 2000 ? text : text[..2000] + "...";
}
