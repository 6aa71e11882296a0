// The accuracy guard of the fast precisions (issue #5), against the fp32 reference path:
// - on the real SmolLM2-135M GGUF decoder, over more than 1,000 positions of varied text fed one token at a time
//   (teacher forcing), the top-1 token must agree at ≥ 99 % of the positions whose fp32 top-1/top-2 margin
//   exceeds 0.5 — for the prefill path (bf16 matmuls) and for the decode path (fused bf16 / int8 GEMV);
// - on the exact SmolVLM2-256M shapes with random weights (vision, prefill and decode): logits cosine ≥ 0.999.
// (The tiny fixtures are covered by PrecisionTests.)

import Foundation
import Kernels
import Testing
import TestSupport

@testable import SmolVLM

@Suite(.serialized, .holdingSerialLock) struct AccuracyGuardTests {
    /// Varied text: prose, dialogue, code, lists, numbers, other languages.
    static let texts = [
        """
        The lighthouse keeper climbed the spiral stairs every evening at dusk, counting the steps as his father had \
        taught him. Two hundred and twelve. At the top, the lamp waited, its brass fittings polished until they \
        caught the last of the light. Out on the water, a fishing boat was turning for home, its wake a pale line \
        across the darkening bay. He lit the wick, closed the glass, and watched the beam begin its slow circle.
        """,
        """
        User: Can you help me plan a three-day trip to Lisbon in April?
        Assistant: Of course! On the first day, explore the Alfama district and visit the São Jorge Castle. On the \
        second day, take a tram to Belém to see the Jerónimos Monastery and try the famous custard tarts. On the \
        third day, make a day trip to Sintra for its palaces and gardens. Would you like restaurant suggestions?
        """,
        """
        def merge_sorted(a, b):
            result = []
            i = j = 0
            while i < len(a) and j < len(b):
                if a[i] <= b[j]:
                    result.append(a[i])
                    i += 1
                else:
                    result.append(b[j])
                    j += 1
            return result + a[i:] + b[j:]
        """,
        """
        Shopping list for the weekend:
        - 2 kg of potatoes
        - 6 eggs
        - a loaf of sourdough bread
        - olive oil, garlic and fresh basil
        - 500 g of spaghetti
        Remember to pick up the dry cleaning before 5 pm on Saturday.
        """,
        """
        Photosynthesis converts light energy into chemical energy. In the chloroplasts, chlorophyll absorbs light, \
        and the energy drives the splitting of water molecules, releasing oxygen. The hydrogen and the energy \
        captured are then used in the Calvin cycle to fix carbon dioxide into sugars, which the plant uses for \
        growth and stores as starch.
        """,
        """
        Quarterly results: revenue rose 12% year over year to $4.3 billion, while operating costs grew only 5%. \
        The company raised its full-year guidance and announced a share buyback of $500 million. Analysts noted \
        that growth in the cloud division offset weaker hardware sales in Europe and Asia.
        """,
        """
        La ville s'éveille lentement. Les boulangers ouvrent leurs portes, et l'odeur du pain chaud se répand dans \
        les rues étroites. Un chat traverse la place, indifférent aux premiers passants qui pressent le pas vers la \
        gare. Au loin, une cloche sonne sept heures.
        """,
        """
        To reset the router, unplug it from the power outlet and wait thirty seconds. Plug it back in and wait for \
        the status light to turn solid green, which usually takes two minutes. If the light keeps blinking orange, \
        press and hold the reset button on the back for ten seconds, then set up the network again from the app.
        """,
        """
        Once upon a time, in a kingdom by the sea, there lived a princess who could speak to birds. Every morning \
        the gulls brought her news from distant shores: storms gathering in the north, ships lost and found, a \
        dragon sleeping under a mountain of gold. One day a small sparrow arrived with a message that changed \
        everything.
        """,
        """
        Dear Ms. Patel, thank you for your application for the position of data analyst. We were impressed by your \
        experience with time-series forecasting and would like to invite you to an interview next Tuesday at 10 am. \
        The interview will last about an hour and include a short technical exercise. Please let us know if this \
        time suits you, or suggest two alternatives. We look forward to meeting you. Kind regards, the hiring team.
        """,
        """
        SELECT customers.name, COUNT(orders.id) AS order_count, SUM(orders.total) AS revenue
        FROM customers
        JOIN orders ON orders.customer_id = customers.id
        WHERE orders.created_at >= '2026-01-01'
        GROUP BY customers.name
        HAVING COUNT(orders.id) > 3
        ORDER BY revenue DESC
        LIMIT 20;
        """,
        """
        The history of the bicycle begins in 1817, when Karl Drais built a two-wheeled running machine without \
        pedals. Pedals attached to the front wheel appeared in the 1860s, and the high-wheeler followed, fast but \
        dangerous. The safety bicycle of the 1880s, with equal wheels and a chain drive, made cycling popular, and \
        the pneumatic tyre soon made it comfortable. Within a few decades bicycles had changed how people worked, \
        courted and travelled, and they gave many women a new independence.
        """,
        """
        Recipe for a simple tomato soup: soften a chopped onion and two cloves of garlic in olive oil for ten \
        minutes. Add a kilogram of ripe tomatoes, a pinch of sugar, salt and pepper, and half a litre of vegetable \
        stock. Simmer for twenty minutes, blend until smooth, and finish with a handful of basil leaves and a \
        spoonful of cream. Serve hot with crusty bread.
        """,
        """
        In the match last night, the home team took an early lead with a header from a corner in the twelfth \
        minute. The visitors equalised just before half time after a quick counterattack. The second half was \
        tense, with chances at both ends, until a substitute scored a late winner from the edge of the box, sending \
        the crowd into celebration as the referee blew the final whistle.
        """,
        """
        import Foundation

        struct Temperature {
            var celsius: Double
            var fahrenheit: Double { celsius * 9 / 5 + 32 }
        }

        let readings = [18.5, 21.0, 19.75, 23.25].map(Temperature.init(celsius:))
        for reading in readings where reading.fahrenheit > 68 {
            print("Warm:", reading.fahrenheit)
        }
        """,
    ]

    /// Top-1 and top-1/top-2 margin of a logits row.
    static func top(_ row: UnsafePointer<Float>, _ count: Int) -> (id: Int, margin: Float) {
        let (best, second) = Ops.topTwo(row, count: count)
        return (best, row[best] - row[second])
    }

    /// Counts agreement at confident positions: (agreeing, confident, total positions).
    static func agreement(_ reference: [(id: Int, margin: Float)], _ other: [Int]) -> (Int, Int, Int) {
        var agree = 0, confident = 0
        for (r, o) in zip(reference, other) where r.margin > 0.5 {
            confident += 1
            if r.id == o { agree += 1 }
        }
        return (agree, confident, reference.count)
    }

    @Test(.enabled(if: RealGGUF.shouldRun, RealGGUF.skipNote))
    func fastPrecisionsAgreeWithFP32OnTheRealDecoder() throws {
        _ = try RealGGUF.require()
        let model = try TextLanguageModel.load(gguf: RealGGUF.url)
        let sequences = Self.texts.map { model.tokenizer.encode($0) }
        let vocab = model.decoder.config.vocabSize
        let context = ComputeContext()
        // fp32 reference: every position's logits from one prefill pass.
        var reference: [(id: Int, margin: Float)] = []
        for ids in sequences {
            let generator = TextGenerator(decoder: model.decoder, capacity: ids.count, context: context)
            let embeddings = Tensor(zeros: [ids.count, model.decoder.config.hiddenSize])
            model.decoder.embed(ids, into: embeddings)
            let logits = generator.allLogits(embeddings)
            for t in 0..<ids.count { reference.append(Self.top(logits.floats + t * vocab, vocab)) }
        }
        #expect(reference.count >= 1000, "only \(reference.count) positions")
        for precision in [Precision.bf16, .int8] {
            let fast = model.prepared(for: precision)
            var prefill: [Int] = [], decode: [Int] = []
            for ids in sequences {
                let embeddings = Tensor(zeros: [ids.count, fast.decoder.config.hiddenSize])
                fast.decoder.embed(ids, into: embeddings)
                // Prefill path: all positions at once (bf16 matmuls).
                let batch = TextGenerator(decoder: fast.decoder, capacity: ids.count, context: context)
                let logits = batch.allLogits(embeddings)
                for t in 0..<ids.count { prefill.append(Self.top(logits.floats + t * vocab, vocab).id) }
                // Decode path: one token at a time through the fused step.
                let stepper = TextGenerator(decoder: fast.decoder, capacity: ids.count, context: context)
                for t in 0..<ids.count {
                    let row = stepper.step(embeddings.rows(t..<t + 1))
                    decode.append(Self.top(row.floats, vocab).id)
                }
            }
            for (path, ids) in [("prefill", prefill), ("decode", decode)] {
                let (agree, confident, total) = Self.agreement(reference, ids)
                let rate = Double(agree) / Double(max(confident, 1))
                print("accuracy guard \(precision) \(path): top-1 agreement \(agree)/\(confident) = \(rate) (of \(total) positions)")
                #expect(rate >= 0.99, "\(precision) \(path): \(agree)/\(confident)")
                #expect(confident >= 500)
            }
        }
    }

    @Test func fastPrecisionsMatchFP32OnTheRealShapes() throws {
        let reference = try SmolVLMModel.random(.smolvlm2_256m, seed: 3)
        let d = reference.config.textConfig.hiddenSize
        let v = reference.config.visionConfig
        let pixels = Tensor.random([1, v.numChannels, v.imageSize, v.imageSize], seed: 11, scale: 1)
        var ids = (0..<40).map { ($0 * 7919) % 49000 }
        ids.insert(contentsOf: Array(repeating: reference.config.imageTokenID, count: reference.tokensPerFrame), at: 5)
        func run(_ model: SmolVLMModel) throws -> [[Float]] {
            let context = ComputeContext()
            let features = Tensor(zeros: [model.tokensPerFrame, d])
            FrameEncoder(model: model).encode(pixels, into: features, context: context)
            let generator = TextGenerator(decoder: model.decoder, capacity: ids.count + 8, context: context)
            var rows: [[Float]] = [features.toArray()]
            rows.append(generator.step(try model.inputEmbeddings(ids: ids, imageFeatures: features)).toArray())
            let one = Tensor(zeros: [1, d])
            for k in 0..<6 {
                model.decoder.embed([100 + k * 37], into: one)
                rows.append(generator.step(one).toArray())
            }
            return rows
        }
        let expected = try run(reference)
        for precision in [Precision.bf16, .int8, .auto] {
            let actual = try run(reference.prepared(for: precision))
            for (i, (a, b)) in zip(actual, expected).enumerated() {
                let c = PrecisionTests.cosine(a, b)
                print("accuracy guard 256M \(precision) \(i == 0 ? "vision features" : "logits \(i - 1)"): cosine \(c)")
                #expect(c >= 0.999, "\(precision) output \(i): cosine \(c)")
            }
        }
    }
}
