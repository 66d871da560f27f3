import Foundation
import Hummingbird
import Logging
import ModelOpsCore
import NIOCore
import Reconciler

extension AgentServer {
  /// An application with the Ray output routes alone (for `agent apply`).
  public static func rayOutputApplication(listen: ListenAddress, output: RayStepOutput, logger: Logger)
    -> some ApplicationProtocol
  {
    let router = Router()
    addRayOutputRoutes(router.group("api/v1"), output)
    return Application(
      router: router, configuration: .init(address: .hostname(listen.host, port: listen.port)), logger: logger)
  }

  /// `GET|PUT /api/v1/runs/<id>/output?step=N&attempt=M`: a Ray job running a step of run `id`
  /// fetches the run's output so far, or sends it back (a zip). Authorised by the run's own token,
  /// not the API token: it is good for that run's current attempt only, while it runs. The body
  /// is streamed to a file beside the run, never held whole in memory.
  static func addRayOutputRoutes(_ api: RouterGroup<BasicRequestContext>, _ output: RayStepOutput) {
    api.get("runs/:id/output") { request, context in
      let (id, step, attempt) = target(request, context)
      if let refused = output.refusal(run: id, step: step, attempt: attempt, token: bearer(request)) {
        return json(try encode(["error": refused.reason]), .init(code: refused.status))
      }
      let archive = await onOwnThread { Result { try output.current(run: id) } }
      switch archive {
      case .success(let data):
        return Response(
          status: .ok, headers: [.contentType: "application/zip"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
      case .failure(let error): return json(try encode(["error": "\(error)"]), .internalServerError)
      }
    }
    api.put("runs/:id/output") { request, context in
      let (id, step, attempt) = target(request, context)
      if let refused = output.refusal(run: id, step: step, attempt: attempt, token: bearer(request)) {
        return json(try encode(["error": refused.reason]), .init(code: refused.status))
      }
      guard let step, let attempt else { return json(#"{"error":"step and attempt are needed"}"#, .badRequest) }
      let file = output.uploadFile(run: id)
      FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600])
      guard let handle = FileHandle(forWritingAtPath: file.path) else {
        return json(#"{"error":"cannot store the upload"}"#, .internalServerError)
      }
      var size = 0
      do {
        defer { try? handle.close() }
        for try await buffer in request.body {
          size += buffer.readableBytes
          guard size <= RayStepOutput.maxBytes else {
            try? FileManager.default.removeItem(at: file)
            return json(#"{"error":"the output is larger than the agent accepts"}"#, .contentTooLarge)
          }
          try handle.write(contentsOf: buffer.readableBytesView)
        }
      }
      let received = await onOwnThread {
        Result { try output.receive(run: id, step: step, attempt: attempt, file: file) }
      }
      if case .failure(let error) = received { return json(try encode(["error": "\(error)"]), .badRequest) }
      return json(try encode(["received": size]))
    }
  }

  private static func target(_ request: Request, _ context: BasicRequestContext) -> (String, Int?, Int?) {
    (
      context.parameters.get("id") ?? "", request.uri.queryParameters["step"].flatMap { Int(String($0)) },
      request.uri.queryParameters["attempt"].flatMap { Int(String($0)) }
    )
  }
}
