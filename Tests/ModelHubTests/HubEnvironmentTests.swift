// Reading the hub environment the way huggingface_hub does, from an injected environment dictionary.

import Foundation
import Testing

@testable import ModelHub

@Suite struct HubEnvironmentTests {
    @Test func cacheRootPrecedence() throws {
        let base = ["HOME": "/home/u"]
        #expect(try HubEnvironment.fromProcess(environment: base).cacheRoot.path == "/home/u/.cache/huggingface/hub")
        #expect(
            try HubEnvironment.fromProcess(environment: base.merging(["XDG_CACHE_HOME": "/xdg"]) { $1 }).cacheRoot.path
                == "/xdg/huggingface/hub")
        #expect(
            try HubEnvironment.fromProcess(environment: base.merging(["HF_HOME": "~/hf"]) { $1 }).cacheRoot.path
                == "/home/u/hf/hub")
        let withCache = base.merging(["HF_HOME": "/hf", "HF_HUB_CACHE": "/cache"]) { $1 }
        #expect(try HubEnvironment.fromProcess(environment: withCache).cacheRoot.path == "/cache")
        #expect(
            try HubEnvironment.fromProcess(environment: withCache, cacheDirectory: "rel", currentDirectory: "/work")
                .cacheRoot.path == "/work/rel")
    }

    @Test func offlineFromTheEnvironmentOrTheFlag() throws {
        #expect(try !HubEnvironment.fromProcess(environment: ["HOME": "/h"]).offline)
        for value in ["1", "on", "YES", "true"] {
            #expect(try HubEnvironment.fromProcess(environment: ["HOME": "/h", "HF_HUB_OFFLINE": value]).offline)
        }
        #expect(try !HubEnvironment.fromProcess(environment: ["HOME": "/h", "HF_HUB_OFFLINE": "0"]).offline)
        #expect(try HubEnvironment.fromProcess(environment: ["HOME": "/h"], offline: true).offline)
    }

    @Test func endpointAndToken() throws {
        let environment = try HubEnvironment.fromProcess(
            environment: ["HOME": "/h", "HF_ENDPOINT": "http://127.0.0.1:9/mirror/", "HF_TOKEN": "hf_x"])
        #expect(environment.endpoint.absoluteString == "http://127.0.0.1:9/mirror")
        #expect(environment.token == "hf_x")
        #expect(
            try HubEnvironment.fromProcess(environment: ["HOME": "/h"]).endpoint.absoluteString
                == "https://huggingface.co")
        _ = try #require(throws: HubError.self) {
            try HubEnvironment.fromProcess(environment: ["HOME": "/h", "HF_ENDPOINT": "ftp://x"])
        }
    }

    @Test func tokenFileIsTheFallback() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        try Data("hf_from_file\n".utf8).write(to: temp.url.appendingPathComponent("token"))
        let environment = try HubEnvironment.fromProcess(environment: ["HOME": "/h", "HF_HOME": temp.url.path])
        #expect(environment.token == "hf_from_file")
        #expect(try HubEnvironment.fromProcess(environment: ["HOME": temp.url.path]).token == nil)
    }
}
